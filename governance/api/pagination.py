"""Page-number pagination with a bounded, validated page size."""

from __future__ import annotations

from typing import Any

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

    def get_page_number(self, request: Request, paginator: Any) -> int:
        """`?page=` is an integer from 1 (the schema says so); a page past the end stays a 404."""
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        # `?page=` and `?page=last` used to mean page 1 and the last page: neither is an integer.
        if not (raw.isascii() and raw.isdigit()) or int(raw[:19]) < 1:
            raise ValidationFailed(
                "page must be an integer from 1",
                code="invalid_page",
                details={"field": "page"},
            )
        if len(raw) > 18:  # far past the end of any list: the paginator's 404, without a huge int()
            return int(paginator.num_pages) + 1
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        """Document the bounds the view enforces, so a schema-valid page size is always accepted."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=settings.API_MAX_PAGE_SIZE)
            elif parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters
