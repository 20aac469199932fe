"""Governance: the platform's Django project and its core domain."""

from governance.celery import app as celery_app

__all__ = ["celery_app"]
