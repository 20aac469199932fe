"""Routes of the retrieval API, mounted under /api/v1/ by governance."""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from retrieval.api import views

router = DefaultRouter()
router.include_root_view = False
router.register("collections", views.CollectionViewSet, basename="collection")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("query-logs", views.QueryLogViewSet, basename="query-log")

urlpatterns = router.urls
