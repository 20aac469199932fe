"""Read-side queries for deployments and their documentation versions."""

from __future__ import annotations

from django.db.models import QuerySet

from governance.models import Deployment, DeploymentDocumentation


def deployment_list() -> QuerySet[Deployment]:
    return Deployment.objects.select_related("requested_by", "approved_by", "documentation").order_by(
        "-created_at", "-id"
    )


def deployment_get(pk: int) -> Deployment:
    return deployment_list().get(pk=pk)


def documentation_version(deployment_id: int, number: int | None = None) -> DeploymentDocumentation | None:
    """A documentation version of the deployment: the numbered one, or the newest when none is named."""
    versions = DeploymentDocumentation.objects.filter(deployment_id=deployment_id).select_related(
        "created_by"
    )
    if number is not None:
        return versions.filter(version=number).first()
    return versions.order_by("-version").first()
