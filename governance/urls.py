"""Root URLs: admin, API v1, schema and offline docs."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from governance.participants import api_routes

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("governance.api.urls")),
    *[path("api/v1/", include(module)) for module in api_routes()],
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]
