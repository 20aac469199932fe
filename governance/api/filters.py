"""Filtering that refuses unknown query parameters instead of ignoring them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from governance.errors import ValidationFailed

GENERIC_PARAMS = {"page", "page_size", "format", "ordering"}


def strict_filter(
    params: Any,
    filterset_class: Any,
    queryset: QuerySet[Any],
    *,
    extra: tuple[str, ...] = (),
    ordering_fields: tuple[str, ...] = (),
) -> QuerySet[Any]:
    """Apply a FilterSet and an ordering, refusing parameters, values and orderings it does not know."""
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
    if filterset_class is not None:
        filterset = filterset_class(params, queryset=queryset)
        if not filterset.is_valid():
            raise ValidationFailed(
                f"invalid value for filter '{next(iter(filterset.errors))}'",
                code="invalid_filter",
                details={"field": next(iter(filterset.errors)), "errors": filterset.errors},
            )
        queryset = filterset.qs
    if "ordering" in params:
        queryset = queryset.order_by(*_ordering(params.get("ordering", ""), ordering_fields), "pk")
    return queryset


def _ordering(value: str, allowed: tuple[str, ...]) -> list[str]:
    """The validated terms of `?ordering=a,-b`; an unknown one used to be ignored silently."""
    terms = [term.strip() for term in value.split(",")]
    for term in terms:
        if term.removeprefix("-") not in allowed:
            raise ValidationFailed(
                f"cannot order by '{term}'",
                code="invalid_ordering",
                details={"field": "ordering", "value": term, "allowed": sorted(allowed)},
            )
    return terms


class StrictFilterBackend(DjangoFilterBackend):
    """A typo in a filter name would otherwise return the whole table: refuse it with 400."""

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset_class = self.get_filterset_class(view, queryset)
        extra = tuple(getattr(view, "extra_query_params", ()))
        ordering = tuple(getattr(view, "ordering_fields", ()))  # views that offer ?ordering= name fields
        return strict_filter(
            request.query_params, filterset_class, queryset, extra=extra, ordering_fields=ordering
        )
