"""The one Celery app. Queues: `default` (scans, indexing, reports) and `gpu` (fine-tuning)."""

from __future__ import annotations

import os
from typing import Any, cast

from celery import Celery, signals
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


@app.on_after_finalize.connect
def _schedule_claim_sweep(sender: Celery, **kwargs: Any) -> None:
    # A whole worker killed leaves its rows held by a dead owner; the broker would redeliver the message
    # only after its visibility timeout (2 h), so the sweep re-sends them once their heartbeat is stale.
    # Connected here, not set above: settings are read once Django is configured, never at import.
    from django.conf import settings

    sender.conf.beat_schedule["requeue-stale-claims"] = {
        "task": "governance.tasks.requeue_stale_claims",
        "schedule": float(settings.CLAIM_SWEEP_INTERVAL_S),
    }
    # Erasure requests whose physical purge falls due before the next sweep (ERASURE_PURGE_WITHIN_S).
    sender.conf.beat_schedule["purge-erased-requests"] = {
        "task": "governance.tasks.erasure_purge_due",
        "schedule": float(settings.ERASURE_PURGE_SWEEP_S),
    }
    # Response packages of access and portability requests past their expiry (SUBJECT_PACKAGE_TTL_S).
    sender.conf.beat_schedule["expire-subject-packages"] = {
        "task": "governance.tasks.subject_packages_expire",
        "schedule": float(settings.SUBJECT_PACKAGE_SWEEP_S),
    }
    # Datasets past their retention date and documents past their collection's retention (notices first).
    sender.conf.beat_schedule["retention-sweep"] = {
        "task": "governance.tasks.retention_sweep",
        "schedule": float(settings.RETENTION_SWEEP_S),
    }
    # Approved and active deployments whose gates stopped holding (a DPIA expired, a taint by hand).
    sender.conf.beat_schedule["recheck-deployments"] = {
        "task": "governance.tasks.deployments_recheck",
        "schedule": float(settings.DEPLOYMENT_RECHECK_S),
    }


@signals.celeryd_init.connect
@signals.beat_init.connect
def _start_embedded_services(**kwargs: Any) -> None:
    # A worker or beat started on its own (not from run_platform) needs the embedded PostgreSQL and
    # Redis up; importing settings never starts them.
    from django.conf import settings

    from governance import embedded

    embedded.start_services()
    # No connection pool in workers: each prefork child runs one task at a time, and a pool's threads
    # would not survive the fork if the parent had opened it. Set before any connection exists.
    for database in settings.DATABASES.values():
        cast("dict[str, Any]", database["OPTIONS"]).pop("pool", None)
