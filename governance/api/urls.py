"""Routes of the governance API under /api/v1/."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from governance.api import views

router = DefaultRouter()
router.register("ai-systems", views.AISystemViewSet, basename="ai-system")
router.register("datasets", views.DatasetViewSet, basename="dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="dataset-version")
router.register("dpias", views.DPIAViewSet, basename="dpia")
router.register("audit-events", views.AuditEventViewSet, basename="audit-event")

urlpatterns = [
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    *router.urls,
]
