"""Filtering that refuses unknown query parameters instead of ignoring them."""

from __future__ import annotations

import copy
import datetime as dt
from functools import cache
from typing import Any

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.request import Request

from governance.errors import ValidationFailed

GENERIC_PARAMS = {"page", "page_size", "format", "ordering"}
_BOOLEAN_VALUES = {"true", "false", "True", "False", "1", "0"}


class UTCIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time read in UTC: PostgreSQL refuses offsets past 15:59 (a 500 before)."""

    def to_python(self, value: Any) -> Any:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable instant
            raise ValidationError("the date and time is out of range", code="invalid") from None


class _BlankChoiceFilter(django_filters.ChoiceFilter):
    """A choice filter whose choices include "" (`legal_basis` not set): `?legal_basis=` selects those."""

    def filter(self, qs: Any, value: Any) -> Any:
        if value == "" and self.field_name in self.parent.data:  # sent blank, not left out
            return qs.filter(**{self.field_name: ""})
        return super().filter(qs, value)


def _blank_is_a_choice(item: Any) -> bool:
    choices = item.extra.get("choices") if isinstance(item, django_filters.ChoiceFilter) else None
    if callable(choices):
        choices = choices()
    return any(choice[0] == "" for choice in choices or ())


@cache
def _strict_filterset(filterset_class: Any) -> Any:
    """`filterset_class` with id filters that match nothing for a missing id, and UTC date-times.

    A related-object filter used to answer 400 for an id that does not exist (`?ai_system=0`): a
    filter narrows a list, and an id nobody has narrows it to nothing, as the schema (an integer) says.
    """
    filters = {}
    for name, base in filterset_class.base_filters.items():
        new = base
        if type(base) is django_filters.NumberFilter:  # every one filters an integer (sequence, id)
            new = copy.deepcopy(base)
            new.field_class = forms.IntegerField
        elif type(base) is django_filters.ModelChoiceFilter:
            new = django_filters.NumberFilter(field_name=base.field_name, lookup_expr=base.lookup_expr)
            new.field_class = forms.IntegerField
        elif type(base) is django_filters.ChoiceFilter and _blank_is_a_choice(base):
            new = _BlankChoiceFilter(field_name=base.field_name, choices=base.extra["choices"])
        elif isinstance(base, django_filters.IsoDateTimeFilter):
            new = copy.deepcopy(base)
            new.field_class = UTCIsoDateTimeField
        filters[name] = new
    strict: Any = type(filterset_class.__name__, (filterset_class,), {})
    strict.base_filters = filters
    return strict


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
    _refuse_blank_and_non_boolean(params, filterset_class)
    if filterset_class is not None:
        filterset = _strict_filterset(filterset_class)(params, queryset=queryset)
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


def _refuse_blank_and_non_boolean(params: Any, filterset_class: Any) -> None:
    # django-filter reads `?until=` or `?contains_personal_data=maybe` as "no filter" and returns the
    # whole list; the schema says a value is required (minLength 1) and a boolean is true or false.
    filters = getattr(filterset_class, "base_filters", {})
    blank_ok = {name for name, item in filters.items() if _blank_is_a_choice(item)}
    booleans = {name for name, item in filters.items() if isinstance(item, django_filters.BooleanFilter)}
    for name in sorted(set(params) - {"page", "page_size"} - blank_ok):  # the paginator names its own errors
        for value in params.getlist(name) if hasattr(params, "getlist") else [params[name]]:
            if value == "" or (name in booleans and value not in _BOOLEAN_VALUES):
                raise ValidationFailed(
                    f"invalid value for filter '{name}'",
                    code="invalid_filter",
                    details={"field": name, "errors": {name: ["a non-empty value of the documented type"]}},
                )


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
