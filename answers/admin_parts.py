"""What answers adds to a deployment's admin page: its retraining signal and a "Queue a retrain" button.

Governance's DeploymentAdmin cannot import answers (answers depends on governance), so the button and
the panel are added to the registered admin when the app is ready, as erasure participants are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from governance import ui
from governance.admin_base import ObjectAction, PolicyAdmin
from governance.choices import DeploymentStatus
from governance.models import Deployment
from governance.policy import REVIEW

# Lazy: the button is built at import, and its label is read in the reader's language.
_lazy = cast("Callable[[str], str]", gettext_lazy)


def _retrain(request: HttpRequest, deployment: Any, data: dict[str, Any]) -> Any:
    from answers.services import deployment_retrain

    job, created = deployment_retrain(actor=request.user, deployment=deployment)
    if not created:
        messages.info(
            request,
            _("Fine-tune job #%(job)s was already queued for this dataset version; no new job was created.")
            % {"job": job.pk},
        )
    return job


RETRAIN = ObjectAction(
    name="queue_retrain",
    label=_lazy("Queue a retrain on the newest dataset version"),
    verb=REVIEW,
    run=_retrain,
    intro=_lazy(
        "A fine-tune job on the newest ready version of the adapter's dataset, with the adapter's "
        "hyper-parameters, through the same gates as any job. The new adapter is a candidate: it is "
        "evaluated and approved before any deployment uses it."
    ),
    applies=lambda d: (
        d.adapter_version_id is not None and d.status in (DeploymentStatus.ACTIVE, DeploymentStatus.BLOCKED)
    ),
)


def signal_panel(self: Any, request: HttpRequest, deployment: Deployment) -> SafeString:
    from answers.services import retraining_signal

    signal = retraining_signal(deployment)
    return format_html(
        "<h2>{}</h2><p>{} {}</p>",
        _("Answers and the retraining signal"),
        ui.badge(
            "flagged" if signal["flagged"] else "ok",
            _("retrain advised") if signal["flagged"] else _("no signal"),
            tone_of=ui.WAIT if signal["flagged"] else ui.OK,
        ),
        _(
            "%(weak)d of the last %(n)d answers handed off or rated wrong "
            "(%(share)s%%; threshold %(threshold)s%%)."
        )
        % {
            "weak": signal["weak"],
            "n": signal["answers"],
            "share": round(signal["share"] * 100),
            "threshold": round(signal["threshold"] * 100),
        },
    )


def extend_deployment_admin() -> None:
    model_admin = admin.site._registry.get(Deployment)
    if not isinstance(model_admin, PolicyAdmin) or any(
        a.name == RETRAIN.name for a in model_admin.object_actions
    ):
        return
    cls = type(model_admin)
    cls.object_actions = (*cls.object_actions, RETRAIN)
    cls.signal_panel = signal_panel  # type: ignore[attr-defined]
    cls.panels = (*cls.panels, "signal_panel")
