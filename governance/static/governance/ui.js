// The admin's small behaviours, no framework and no network beyond this site:
// copy buttons for hashes, boxes that refresh themselves while work runs, and the reader's time zone.
(function () {
  "use strict";

  // The server renders dates in the time zone this cookie names (governance/middleware.py).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (e) { /* no Intl: the server keeps UTC */ }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button.gv-copy");
    if (!button) { return; }
    var text = button.getAttribute("data-copy");
    var done = function () {
      button.textContent = button.getAttribute("data-copied") || "Copied";
      window.setTimeout(function () { button.textContent = button.getAttribute("data-label") || "Copy"; }, 1500);
    };
    button.setAttribute("data-label", button.textContent);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "absolute";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
      document.body.removeChild(area);
    }
  });

  // <div data-poll="url" data-poll-every="3">: replace the content with the fragment until it says done.
  function poll(box) {
    var every = Math.max(1, parseInt(box.getAttribute("data-poll-every") || "3", 10)) * 1000;
    var tick = function () {
      fetch(box.getAttribute("data-poll"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (!response.ok) { throw new Error(String(response.status)); }
          return response.text();
        })
        .then(function (html) {
          box.innerHTML = html;
          box.setAttribute("data-poll-count", String(parseInt(box.getAttribute("data-poll-count") || "0", 10) + 1));
          if (!box.querySelector("[data-poll-done]")) { window.setTimeout(tick, every); }
          else {
            box.setAttribute("data-poll-state", "done");
            // The work ended: the page's status, buttons and charts are stale; show them as they are now.
            if (box.hasAttribute("data-poll-reload")) { window.location.reload(); }
          }
        })
        .catch(function () { box.setAttribute("data-poll-state", "stopped"); });
    };
    window.setTimeout(tick, every);
  }

  function start() {
    var boxes = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < boxes.length; i++) {
      if (!boxes[i].querySelector("[data-poll-done]")) { poll(boxes[i]); }
    }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
