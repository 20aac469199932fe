"""Filtering that refuses unknown query parameters instead of ignoring them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from governance.errors import ValidationFailed

GENERIC_PARAMS = {"page", "page_size", "format", "ordering"}


def strict_filter(
    params: Any, filterset_class: Any, queryset: QuerySet[Any], *, extra: tuple[str, ...] = ()
) -> QuerySet[Any]:
    """Apply a FilterSet, refusing query parameters it does not know and values it cannot parse."""
    allowed = set(GENERIC_PARAMS) | set(extra)
    if filterset_class is not None:
        allowed |= set(filterset_class.base_filters)
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationFailed(
            f"unknown filter field '{unknown[0]}'",
            code="unknown_filter",
            details={"unknown": unknown, "allowed": sorted(allowed)},
        )
    if filterset_class is None:
        return queryset
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationFailed("invalid filter value", code="invalid_filter", details=filterset.errors)
    return filterset.qs


class StrictFilterBackend(DjangoFilterBackend):
    """A typo in a filter name would otherwise return the whole table: refuse it with 400."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        extra = tuple(getattr(view, "extra_query_params", ()))
        return strict_filter(request.query_params, filterset_class, queryset, extra=extra)
