"""Routes of the answers API, mounted under /api/v1/ by governance."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import DefaultRouter

from answers.api import views

router = DefaultRouter()
router.include_root_view = False
router.register("answers", views.AnswerRecordViewSet, basename="answer")

urlpatterns = [
    path(
        "deployments/<int:pk>/answer/",
        views.DeploymentAnswerViewSet.as_view({"post": "answer"}),
        name="deployment-answer",
    ),
    path(
        "deployments/<int:pk>/retrain/",
        views.DeploymentAnswerViewSet.as_view({"post": "retrain"}),
        name="deployment-retrain",
    ),
    path(
        "deployments/<int:pk>/prompt-templates/",
        views.DeploymentPromptViewSet.as_view({"get": "prompt_templates", "post": "prompt_template_create"}),
        name="deployment-prompt-templates",
    ),
    path(
        "deployments/<int:pk>/retraining-signal/",
        views.DeploymentPromptViewSet.as_view({"get": "retraining_signal"}),
        name="deployment-retraining-signal",
    ),
    path(
        "answers/<int:pk>/feedback/",
        views.AnswerRecordViewSet.as_view({"post": "feedback"}),
        name="answer-feedback",
    ),
    *router.urls,
]
