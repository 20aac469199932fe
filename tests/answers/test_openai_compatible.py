"""The `openai_compatible` backend against real HTTP servers.

The happy path runs against answers/serving.py loading the tiny demo model and the trained adapter (the
server `manage.py serve_completions` starts); its answer must equal the local backend's word for word.
The failure modes run against small misbehaving servers started here: each answers 502 or 503 with a
code, and none leaves an AnswerRecord behind.
"""

# ruff: noqa: F811 - fixtures imported by name
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from answers import services, serving
from answers.backends import InferenceUnavailable, openai_compatible
from answers.models import AnswerRecord
from governance.choices import AnswerBackend
from tests.answers.conftest import (  # noqa: F401 - fixtures
    TrainedWorld,
    adapter,
    approved_dpia,
    demo_model_dir,
    index_knowledge,
    make_deployment,
    make_version,
    trained_world,
    trained_world_fixtures,
)
from tests.conftest import built_once

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
QUESTION = "How long do refunds take to reach my card?"
TIMEOUT_S = 0.5


@pytest.fixture(autouse=True)
def _answer_settings(settings: Any, tmp_path: Path) -> None:
    # tests/training's settings fixture is not active here: keep this file's adapters out of .data/.
    settings.TRAINING_ARTIFACTS_ROOT = str(tmp_path / "artifacts")
    settings.ANSWER_RATE_PER_MINUTE = 0  # many answers per test; the rate limit has its own tests
    settings.ANSWER_HTTP_TIMEOUT_S = TIMEOUT_S
    settings.ANSWER_HTTP_RETRIES = 2
    settings.ANSWER_BREAKER_FAILURES = 50  # out of the way unless a test is about it
    settings.ANSWER_BREAKER_RESET_S = 30.0


@pytest.fixture(scope="module")
def _shared(
    django_db_setup: None,
    django_db_blocker: Any,
    tmp_path_factory: pytest.TempPathFactory,
    demo_model_dir: Path,
) -> Iterator[TrainedWorld]:
    """The rows the fixtures of the same names make (tests/training, tests/answers), made once here.

    A trained job with its hold-out evaluations, a scanned version and an indexed collection cost more
    than most of these tests; each test's writes are rolled back (tests.conftest.built_once). Made under
    this module's settings: its adapters outside .data/, like `_answer_settings` keeps each test's.
    """

    artifacts = tmp_path_factory.mktemp("openai-compatible-artifacts")
    yield from built_once(
        django_db_blocker,
        tmp_path_factory,
        lambda: trained_world(demo_model_dir),
        TRAINING_ARTIFACTS_ROOT=str(artifacts),
    )


engineer, ai_system, base_model, version, trained_job, knowledge = trained_world_fixtures()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _http(method: str, url: str, body: Any = None, *, raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - test
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - a test server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def completions(settings: Any, base_model: Any, adapter: Any) -> Iterator[str]:
    """The real server in this process: the tiny base model as "tiny", the adapter under its name."""
    settings.ANSWER_HTTP_TIMEOUT_S = 60.0  # a real generation on a busy CPU; the timeout has its own test
    models = serving.load_models(base_model.path, {adapter.name: adapter.path}, served_name=base_model.name)
    server, port = serving.serve_in_thread(models)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _ask(api: Any, user: Any, deployment: Any, **extra: Any) -> Any:
    return api(user).post(
        f"/api/v1/deployments/{deployment.pk}/answer/",
        {"question": QUESTION, "k": 3, "max_new_tokens": 16, **extra},
        format="json",
    )


def _error(response: Any) -> dict[str, Any]:
    return dict(response.json()["error"])


# --- The real server ---------------------------------------------------------------------------------


def test_remote_answer_equals_the_local_answer(
    api: Any, engineer: Any, make_deployment: Callable[..., Any], adapter: Any, completions: str
) -> None:
    remote = make_deployment(
        answer_backend=AnswerBackend.OPENAI_COMPATIBLE,
        inference_url=completions,
        inference_model=adapter.name,
    )
    local = make_deployment(environment="production")

    # The default template (the tiny adapter answers it with blank lines, stripped to ""), then one the
    # tiny model answers with words: the same text either way.
    for template in (None, "Classify the ticket: {question}"):
        if template:
            for deployment in (remote, local):
                services.prompt_template_create(actor=engineer, deployment=deployment, text=template)
        remote_response = _ask(api, engineer, remote)
        local_response = _ask(api, engineer, local)
        assert remote_response.status_code == 200, remote_response.content
        assert local_response.status_code == 200, local_response.content
        remote_body, local_body = remote_response.json(), local_response.json()
        assert remote_body["handoff"] is False
        assert remote_body["citations"][0]["citation"]["external_id"] == "refunds"
        assert remote_body["citations"] == local_body["citations"]
        # Greedy on both sides, the same rendering and decoding: the same words and the same token count.
        assert remote_body["answer"] == local_body["answer"]
        assert remote_body["tokens_generated"] == local_body["tokens_generated"] == 16
        assert remote_body["prompt_template_version"] == local_body["prompt_template_version"]
        record = AnswerRecord.objects.get(pk=remote_body["id"])
        assert record.backend == AnswerBackend.OPENAI_COMPATIBLE
        assert record.adapter_version_id == adapter.pk
        assert record.answer_masked == remote_body["answer"]
        assert record.chunks[0]["chunk_id"] == remote_body["citations"][0]["chunk_id"]
    assert remote_body["answer"].strip()
    assert AnswerRecord.objects.filter(deployment=remote).count() == 2


def test_an_empty_inference_model_asks_for_the_adapter_by_its_name(
    api: Any, engineer: Any, make_deployment: Callable[..., Any], completions: str
) -> None:
    deployment = make_deployment(
        answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url=completions + "/"
    )
    response = _ask(api, engineer, deployment, max_new_tokens=4)
    assert response.status_code == 200, response.content
    assert 0 < response.json()["tokens_generated"] <= 4


def test_the_server_speaks_the_openai_shapes(adapter: Any, base_model: Any, completions: str) -> None:
    status, health = _http("GET", f"{completions}/health")
    assert status == 200 and health == {"status": "ok"}

    status, models = _http("GET", f"{completions}/v1/models")
    assert status == 200 and models["object"] == "list"
    assert [(m["id"], m["parent"]) for m in models["data"]] == [("tiny", None), (adapter.name, "tiny")]

    messages = [{"role": "user", "content": "Where is my invoice?"}]
    status, completion = _http(
        "POST",
        f"{completions}/v1/chat/completions",
        {"model": adapter.name, "messages": messages, "max_tokens": 5},
    )
    assert status == 200, completion
    assert completion["object"] == "chat.completion" and completion["model"] == adapter.name
    choice = completion["choices"][0]
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    assert choice["finish_reason"] in {"stop", "length"}
    usage = completion["usage"]
    assert 0 < usage["completion_tokens"] <= 5 and usage["prompt_tokens"] > 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # Greedy: asking again gives the same text; the base model (adapter switched off) answers too.
    assert (
        _http(
            "POST",
            f"{completions}/v1/chat/completions",
            {"model": adapter.name, "messages": messages, "max_tokens": 5},
        )[1]["choices"]
        == completion["choices"]
    )
    status, plain = _http(
        "POST", f"{completions}/v1/chat/completions", {"model": "tiny", "messages": messages, "max_tokens": 5}
    )
    assert status == 200 and plain["model"] == "tiny"

    status, error = _http(
        "POST", f"{completions}/v1/chat/completions", {"model": "nope", "messages": messages}
    )
    assert status == 404 and error["error"]["code"] == "model_not_found"
    status, error = _http("POST", f"{completions}/v1/chat/completions", raw=b"{not json")
    assert status == 400 and "JSON" in error["error"]["message"]
    status, error = _http("POST", f"{completions}/v1/chat/completions", {"model": "tiny", "messages": []})
    assert status == 400 and error["error"]["param"] == "messages"
    bad_role = [{"role": "tool", "content": "x"}]
    status, error = _http(
        "POST", f"{completions}/v1/chat/completions", {"model": "tiny", "messages": bad_role}
    )
    assert status == 400 and error["error"]["param"] == "messages[0].role"
    status, error = _http(
        "POST",
        f"{completions}/v1/chat/completions",
        {"model": "tiny", "messages": messages, "max_tokens": 10**6},
    )
    assert status == 400 and error["error"]["code"] == "context_length_exceeded"
    status, error = _http("GET", f"{completions}/v1/nothing")
    assert status == 404 and error["error"]["type"] == "not_found"


def test_the_management_command_serves_until_terminated(base_model: Any, adapter: Any) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "serve_completions",
            "--base-model",
            base_model.path,
            "--lora",
            f"{adapter.name}={adapter.path}",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--served-name",
            "tiny",
        ],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, process.communicate()[0].decode()[-3000:]
            try:
                if _http("GET", f"{url}/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        status, models = _http("GET", f"{url}/v1/models")
        assert status == 200
        assert [m["id"] for m in models["data"]] == ["tiny", adapter.name]
        status, completion = _http(
            "POST",
            f"{url}/v1/chat/completions",
            {"model": adapter.name, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 3},
        )
        assert status == 200 and 0 < completion["usage"]["completion_tokens"] <= 3
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output[-3000:]
    assert f"on http://127.0.0.1:{port}" in output


def test_the_management_command_refuses_a_missing_adapter(base_model: Any, tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="adapter_config.json"):
        call_command(
            "serve_completions", "--base-model", base_model.path, "--lora", f"x={tmp_path}", "--port", "0"
        )


# --- Misbehaving servers ------------------------------------------------------------------------------


class Fake:
    """A real HTTP server whose POST behaviour a test chooses and changes; it counts the calls."""

    def __init__(self, behaviour: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.behaviour = behaviour
        self.calls = 0
        self.last_body = b""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                fake.calls += 1
                fake.last_body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    fake.behaviour(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], Fake]]:
    started: list[Fake] = []

    def start(behaviour: Callable[[BaseHTTPRequestHandler], None]) -> Fake:
        started.append(Fake(behaviour))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, **headers: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def _slow(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(TIMEOUT_S * 10)
    _reply(handler, 200, b"{}")


def _trickle(handler: BaseHTTPRequestHandler) -> None:
    # Every byte comes well within the timeout, the whole body long after it (10 s).
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        time.sleep(TIMEOUT_S / 5)


def _not_http(handler: BaseHTTPRequestHandler) -> None:
    handler.wfile.write(b"this is not HTTP\r\n\r\n")
    handler.close_connection = True


BEHAVIOURS: dict[str, tuple[Callable[[BaseHTTPRequestHandler], None], str, int]] = {
    # name: (behaviour, error code, calls with ANSWER_HTTP_RETRIES = 2)
    "timeout": (_slow, "inference_timeout", 1),
    "trickled body": (_trickle, "inference_timeout", 1),
    "500": (lambda h: _reply(h, 500, b'{"error": "boom"}'), "inference_server_error", 3),
    "503": (lambda h: _reply(h, 503, b""), "inference_server_error", 3),
    "404": (
        lambda h: _reply(h, 404, b'{"error": {"message": "no such model"}}'),
        "inference_server_error",
        1,
    ),
    "redirect": (lambda h: _reply(h, 302, b"", Location="http://127.0.0.1:9/"), "inference_server_error", 1),
    "malformed JSON": (lambda h: _reply(h, 200, b'{"choices": [{"message": '), "inference_bad_response", 1),
    "not a completion": (lambda h: _reply(h, 200, b'{"choices": []}'), "inference_bad_response", 1),
    "content not text": (
        lambda h: _reply(h, 200, b'{"choices": [{"message": {"content": null}}]}'),
        "inference_bad_response",
        1,
    ),
    "not HTTP": (_not_http, "inference_bad_response", 1),
}


@pytest.mark.parametrize("name", list(BEHAVIOURS))
def test_a_failing_server_answers_502_and_records_nothing(
    api: Any, engineer: Any, make_deployment: Callable[..., Any], fake: Callable[..., Fake], name: str
) -> None:
    behaviour, code, calls = BEHAVIOURS[name]
    server = fake(behaviour)
    deployment = make_deployment(answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url=server.url)
    started = time.monotonic()
    response = _ask(api, engineer, deployment)
    assert response.status_code == 502, response.content
    assert _error(response)["code"] == code
    assert server.calls == calls
    assert not AnswerRecord.objects.exists()
    if code == "inference_timeout":
        assert time.monotonic() - started < TIMEOUT_S * 6  # the deadline held, not the server's pace (5 s)


def test_retries_follow_the_setting(
    api: Any, engineer: Any, settings: Any, make_deployment: Callable[..., Any], fake: Callable[..., Fake]
) -> None:
    settings.ANSWER_HTTP_RETRIES = 0
    server = fake(lambda h: _reply(h, 500, b""))
    deployment = make_deployment(answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url=server.url)
    response = _ask(api, engineer, deployment)
    assert response.status_code == 502 and _error(response)["details"] == {"status": 500}
    assert server.calls == 1


def test_an_unreachable_server_is_retried_then_answers_502(
    api: Any, engineer: Any, make_deployment: Callable[..., Any]
) -> None:
    deployment = make_deployment(
        answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url=f"http://127.0.0.1:{_free_port()}"
    )
    response = _ask(api, engineer, deployment)
    assert response.status_code == 502 and _error(response)["code"] == "inference_unreachable"
    assert not AnswerRecord.objects.exists()


def test_a_deployment_without_a_server_url_answers_502(
    api: Any, engineer: Any, make_deployment: Callable[..., Any]
) -> None:
    deployment = make_deployment(answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url="")
    response = _ask(api, engineer, deployment)
    assert response.status_code == 502 and _error(response)["code"] == "inference_not_configured"
    assert not AnswerRecord.objects.exists()


# --- The circuit breaker ------------------------------------------------------------------------------


def test_the_breaker_opens_refuses_without_calling_then_lets_a_trial_through(
    api: Any,
    engineer: Any,
    settings: Any,
    make_deployment: Callable[..., Any],
    fake: Callable[..., Fake],
    completions: str,
) -> None:
    settings.ANSWER_HTTP_RETRIES = 0
    settings.ANSWER_BREAKER_FAILURES = 2
    settings.ANSWER_BREAKER_RESET_S = RESET_S = 1.5

    def failing(handler: BaseHTTPRequestHandler) -> None:
        _reply(handler, 500, b"")

    def proxying(handler: BaseHTTPRequestHandler) -> None:
        # Healthy again: the request the fake received goes on to the real server, its answer comes back.
        status, body = _http("POST", f"{completions}/v1/chat/completions", raw=server.last_body)
        _reply(handler, status, json.dumps(body).encode())

    server = fake(failing)
    deployment = make_deployment(answer_backend=AnswerBackend.OPENAI_COMPATIBLE, inference_url=server.url)

    for expected_calls in (1, 2):
        response = _ask(api, engineer, deployment)
        assert response.status_code == 502 and server.calls == expected_calls
    refused = _ask(api, engineer, deployment)
    assert refused.status_code == 503, refused.content
    assert _error(refused)["code"] == "inference_unavailable"
    assert 0 < _error(refused)["details"]["retry_after_s"] <= RESET_S
    assert server.calls == 2  # refused at once: the server was not called

    time.sleep(RESET_S + 0.1)
    trial = _ask(api, engineer, deployment)  # the one trial call: still failing, so the circuit reopens
    assert trial.status_code == 502 and server.calls == 3
    assert _ask(api, engineer, deployment).status_code == 503 and server.calls == 3
    assert not AnswerRecord.objects.exists()

    time.sleep(RESET_S + 0.1)
    server.behaviour = proxying
    recovered = _ask(api, engineer, deployment)
    assert recovered.status_code == 200, recovered.content
    assert server.calls == 4
    assert AnswerRecord.objects.filter(
        pk=recovered.json()["id"], backend=AnswerBackend.OPENAI_COMPATIBLE
    ).exists()

    # A success closed the circuit and cleared the count: it takes two failures again to open it.
    server.behaviour = failing
    assert _ask(api, engineer, deployment).status_code == 502
    assert _ask(api, engineer, deployment).status_code == 502
    assert _ask(api, engineer, deployment).status_code == 503
    assert server.calls == 6


def test_only_one_trial_call_runs_while_the_breaker_half_opens(
    settings: Any, fake: Callable[..., Fake]
) -> None:
    settings.ANSWER_HTTP_RETRIES = 0
    settings.ANSWER_BREAKER_FAILURES = 1
    settings.ANSWER_BREAKER_RESET_S = 0.3
    settings.ANSWER_HTTP_TIMEOUT_S = 5.0
    completion = json.dumps(
        {"choices": [{"message": {"content": " ok "}}], "usage": {"completion_tokens": 1, "prompt_tokens": 3}}
    ).encode()
    release = threading.Event()

    def slow_success(handler: BaseHTTPRequestHandler) -> None:
        release.wait(5)
        _reply(handler, 200, completion)

    server = fake(lambda h: _reply(h, 500, b""))
    deployment = SimpleNamespace(pk=1, inference_url=server.url, inference_model="m", adapter_version=None)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai_compatible.InferenceError):
        openai_compatible.generate(deployment, messages, max_new_tokens=2)
    time.sleep(0.35)
    server.behaviour = slow_success
    results: list[Any] = []
    trial = threading.Thread(
        target=lambda: results.append(openai_compatible.generate(deployment, messages, max_new_tokens=2))
    )
    trial.start()
    while server.calls < 2:
        time.sleep(0.01)
    with pytest.raises(InferenceUnavailable):  # the trial is in flight: others are still refused
        openai_compatible.generate(deployment, messages, max_new_tokens=2)
    release.set()
    trial.join(10)
    assert results and results[0].text == "ok" and results[0].tokens == 1
    assert openai_compatible.generate(deployment, messages, max_new_tokens=2).text == "ok"
    assert server.calls == 3
