"""Routes of the training API, mounted under /api/v1/ by governance."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from training.api import views

router = SimpleRouter()
router.register("base-models", views.BaseModelViewSet, basename="base-model")
router.register("fine-tune-jobs", views.FineTuneJobViewSet, basename="fine-tune-job")
router.register("adapters", views.AdapterVersionViewSet, basename="adapter")
router.register("evaluations", views.EvaluationViewSet, basename="evaluation")

urlpatterns = router.urls
