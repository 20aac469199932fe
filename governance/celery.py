"""The one Celery app. Queues: `default` (scans, indexing, reports) and `gpu` (fine-tuning)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("default"), Queue("gpu"))
app.conf.task_routes = {"training.tasks.*": {"queue": "gpu"}}
app.autodiscover_tasks()
app.conf.beat_schedule = {
    "expire-dpias-past-their-review-date": {"task": "governance.tasks.expire_dpias", "schedule": 3600.0},
}
