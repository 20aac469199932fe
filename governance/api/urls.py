"""Routes of the governance API under /api/v1/, and the API root listing every app's resources."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.urls import path
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.routers import APIRootView, DefaultRouter

from governance.api import advisor, deployments, erasure, reports, views
from governance.api import retention as retention_api
from governance.participants import api_routes


class AllResourcesRootView(APIRootView):
    """The API root: governance's resources and those of every app that registered its routes."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Read the registered route modules by name at request time: governance never imports the
        # retrieval or training modules itself, and an app that registers later shows up here too.
        names = dict(self.api_root_dict or {})
        for module in api_routes():
            app_router = getattr(import_module(module), "router", None)
            for prefix, _viewset, basename in getattr(app_router, "registry", ()):
                names.setdefault(prefix, f"{basename}-list")
        self.api_root_dict = names
        return super().get(request, *args, **kwargs)


router = DefaultRouter()
router.APIRootView = AllResourcesRootView
router.register("ai-systems", views.AISystemViewSet, basename="ai-system")
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="dataset-version")
router.register("dpias", views.DPIAViewSet, basename="dpia")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")
router.register("erasure-requests", erasure.ErasureRequestViewSet, basename="erasure-request")
router.register("subject-requests", erasure.SubjectRequestViewSet, basename="subject-request")
router.register("suppressions", erasure.SuppressionViewSet, basename="suppression")
router.register("advisor", advisor.AdvisorViewSet, basename="advisor")
router.register("legal-holds", retention_api.LegalHoldViewSet, basename="legal-hold")
router.register("deployments", deployments.DeploymentViewSet, basename="deployment")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    path("reports/audit/", reports.AuditReportView.as_view(), name="report-audit"),
    path("reports/dpia/<int:pk>/", reports.DPIAReportView.as_view(), name="report-dpia"),
    path(
        "reports/records-of-processing/",
        reports.RecordsOfProcessingView.as_view(),
        name="report-records-of-processing",
    ),
    path("retention/report/", retention_api.RetentionReportView.as_view(), name="retention-report"),
    *router.urls,
]
