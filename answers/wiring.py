"""How answers plugs into the platform: API routes, erasure, the dashboard, the deployment's page."""

from __future__ import annotations


def register() -> None:
    from answers import admin_parts, dashboard
    from answers import erasure as answer_erasure
    from governance.participants import ErasureParticipant, register_api_routes, register_erasure_participant

    register_api_routes("answers.urls")
    register_erasure_participant(
        ErasureParticipant(
            name="answers",
            find=answer_erasure.erasure_find,
            erase=answer_erasure.erasure_erase,
            purge=answer_erasure.erasure_purge,
            verify=answer_erasure.erasure_verify,
            order=40,
            count_names=answer_erasure.COUNT_NAMES,
            export=answer_erasure.erasure_export,
        )
    )
    dashboard.register()
    admin_parts.extend_deployment_admin()
