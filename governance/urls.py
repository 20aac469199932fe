"""Root URLs: admin, API v1, schema and offline docs."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from governance.participants import api_routes


# csrf_exempt: a POST to an unknown path was refused by the CSRF middleware with an HTML 403 page.
@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page."""
    error = {"code": "not_found", "message": "no such endpoint", "details": {"path": request.path}}
    return JsonResponse({"error": error}, status=404)


urlpatterns = [
    # `/` used to be a DEBUG 404 page; the admin is where a person starts.
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False), name="home"),
    path("admin/", admin.site.urls),
    # The language switch in the admin's header posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", include("governance.api.urls")),
    *[path("api/v1/", include(module)) for module in api_routes()],
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    # Requires the trailing slash so APPEND_SLASH still redirects /api/v1/datasets to /api/v1/datasets/.
    re_path(r"^api/(?:.*/)?$", api_not_found),
]
