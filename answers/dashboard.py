"""The dashboard's retraining card: active deployments whose answers call for a retrain."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html
from django.utils.translation import gettext as _

from governance import ui
from governance.dashboard import Card, register_cards, tone_for
from governance.policy import READ, allowed


def retrain_cards(user: Any) -> list[Card]:
    if not allowed(user, "deployment", READ):
        return []
    from answers.services import flagged_deployments

    flagged = flagged_deployments()
    lines = tuple(
        format_html(
            "{}: {} of the last {} answers handed off or rated wrong ({}%, threshold {}%)",
            ui.link(deployment),
            signal["weak"],
            signal["answers"],
            round(signal["share"] * 100),
            round(signal["threshold"] * 100),
        )
        for deployment, signal in flagged[:5]
    )
    return [
        Card(
            key="deployments_retrain_signal",
            title=_("Deployments whose answers call for a retrain"),
            count=len(flagged),
            tone=tone_for(len(flagged)),
            lines=lines,
            order=15,
        )
    ]


def register() -> None:
    register_cards(retrain_cards)
