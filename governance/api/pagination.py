"""Page-number pagination with a bounded, validated page size."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request

from governance.errors import ValidationFailed


class Pagination(PageNumberPagination):
    """`?page=` and `?page_size=` (1 to API_MAX_PAGE_SIZE); anything else is a 400, not a silent clamp."""

    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return int(self.page_size or 50)
        limit = settings.API_MAX_PAGE_SIZE
        # isascii: "²".isdigit() is true; the length check keeps int() away from 5000-digit strings.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > len(str(limit)) or not 1 <= int(raw) <= limit:
            raise ValidationFailed(
                f"page_size must be an integer from 1 to {limit}",
                code="invalid_page_size",
                details={"field": "page_size", "max": limit},
            )
        return int(raw)
