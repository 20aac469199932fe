"""Training's admin pages read like documents; their buttons, live progress, cards and story section work.

Rows are made directly (as tests/governance/test_permissions_matrix.py `_admin_rows` does): the pages
only show them, and no training run is needed to check what a reader sees and what a button does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from governance.models import AuditEvent
from tests.factories import AISystemFactory, DatasetFactory
from tests.training.helpers import ticket_records, upload_version
from training.models import AdapterVersion, BaseModel, Evaluation, FineTuneEvent, FineTuneJob

pytestmark = pytest.mark.django_db

JUSTIFICATION = "The baseline fails too; the domain team accepts 0.40 for the pilot."


@dataclass
class Rows:
    system: Any
    version: Any
    base_model: BaseModel
    done_job: FineTuneJob  # succeeded, by the engineer, produced `adapter`
    running_job: FineTuneJob  # by the engineer
    queued_job: FineTuneJob  # by the officer
    failed_job: FineTuneJob  # by the officer, yesterday
    my_failed_job: FineTuneJob  # by the engineer, yesterday
    old_failed_job: FineTuneJob  # by the engineer, 40 days ago: outside the card's window
    adapter: AdapterVersion  # candidate, failed its hold-out (accuracy 0.40 < 0.50)
    tainted: AdapterVersion
    mine: Evaluation
    baseline: Evaluation


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _job(rows_base: dict[str, Any], seed: int, user: Any, **fields: Any) -> FineTuneJob:
    return FineTuneJob.objects.create(
        seed=seed, request_sha256=f"{seed:x}" * 64, created_by=user, **{**rows_base, **fields}
    )


@pytest.fixture
def rows(officer: Any, engineer: Any) -> Rows:
    system = AISystemFactory(name="Helpdesk", owner=engineer, evaluation_threshold=0.5)
    dataset = DatasetFactory(owner=engineer, name="Tickets")
    dataset.ai_systems.add(system)
    version = upload_version(dataset, ticket_records(20), actor=engineer, scan=False)
    base_model = BaseModel.objects.create(
        name="tiny", path="/nonexistent/tiny", architecture="GPT2LMHeadModel", model_type="gpt2",
        parameter_count=1000, max_sequence_length=128, config_sha256="c" * 64,
        manifest={"model.safetensors": {"sha256": "d" * 64, "size": 4000}}, module_names=["c_attn", "c_proj"],
    )  # fmt: skip
    base = {
        "ai_system": system, "base_model": base_model, "dataset_version": version,
        "hyperparameters": {"rank": 4, "alpha": 8, "learning_rate": 0.003, "target_modules": ["c_attn"]},
    }  # fmt: skip
    now = timezone.now()
    done_job = _job(base, 1, engineer, status="succeeded", progress=1.0, current_step=4, total_steps=4,
                    finished_at=now)  # fmt: skip
    for step, loss in ((2, 2.5), (4, 1.25)):
        FineTuneEvent.objects.create(
            job=done_job, kind="progress", step=step, loss=loss, message=f"step {step}"
        )
    FineTuneEvent.objects.create(
        job=done_job, kind="failed", level="error", message="an earlier attempt died"
    )
    running_job = _job(base, 2, engineer, status="running", progress=0.5, current_step=2, total_steps=4)
    queued_job = _job(base, 3, officer)
    failed_job = _job(
        base, 4, officer, status="failed", error="out of memory", finished_at=now - timedelta(days=1)
    )
    my_failed_job = _job(base, 5, engineer, status="failed", error="oom", finished_at=now - timedelta(days=1))
    old_failed_job = _job(
        base, 6, engineer, status="failed", error="oom", finished_at=now - timedelta(days=40)
    )
    lineage = {
        "job": done_job.pk,
        "ai_system": system.pk,
        "base_model": {"id": base_model.pk, "name": "tiny", "manifest_sha256": "e" * 64},
        "dataset_version": {"id": version.pk, "number": version.number, "sha256": version.sha256},
        "hyperparameters": base["hyperparameters"],
        "training": {"steps": 4, "trained_records": 18, "skipped_too_long": 0},
        "hardware": {"device": "cpu", "torch": "2.4.0"},
    }
    adapter = AdapterVersion.objects.create(
        job=done_job, ai_system=system, base_model=base_model, dataset_version=version, name="tiny-lora-1",
        path="/nonexistent/adapter", files={"adapter_model.safetensors": {"sha256": "a" * 64, "size": 10}},
        sha256="b" * 64, size_bytes=10, lora_config={"r": 4, "lora_alpha": 8, "target_modules": ["c_attn"]},
        trainable_parameters=10, total_parameters=1000, lineage=lineage, created_by=engineer,
    )  # fmt: skip
    scores = {"base_model": base_model, "ai_system": system, "dataset_version": version, "job": done_job,
              "primary_metric": "accuracy", "sample_count": 2, "threshold": 0.5}  # fmt: skip
    mine = Evaluation.objects.create(
        subject="adapter", adapter_version=adapter, metrics={"accuracy": 0.4, "macro_f1": 0.35}, score=0.4,
        passed=False, **scores,
    )  # fmt: skip
    baseline = Evaluation.objects.create(
        subject="baseline", metrics={"accuracy": 0.2, "macro_f1": 0.1}, score=0.2, passed=False, **scores
    )
    tainted_job = _job(base, 7, officer, status="succeeded", progress=1.0, finished_at=now)
    tainted = AdapterVersion.objects.create(
        job=tainted_job, ai_system=system, base_model=base_model, dataset_version=version, name="tiny-lora-2",
        path="/nonexistent/adapter2", files={}, sha256="f" * 64, size_bytes=1, lora_config={},
        trainable_parameters=1, total_parameters=1000, lineage={}, status="tainted",
        taint_reason="erasure request 7 names a subject in its data",
    )  # fmt: skip
    return Rows(
        system, version, base_model, done_job, running_job, queued_job, failed_job, my_failed_job,
        old_failed_job, adapter, tainted, mine, baseline,
    )  # fmt: skip


def _page(user: Any, url: str) -> str:
    response = _client(user).get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


def _url(row: Any, view: str = "change") -> str:
    return f"/admin/{row._meta.app_label}/{row._meta.model_name}/{row.pk}/{view}/"


# --- Pages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["officer", "engineer", "auditor"])
def test_every_training_page_is_a_document_with_badges_links_and_tables(request, role, rows):
    user = request.getfixturevalue(role)
    for row in (rows.base_model, rows.done_job, rows.adapter, rows.mine):
        page = _page(user, _url(row))
        assert 'class="gv-badge' in page, row
        assert 'class="gv-kv"' in page or 'class="gv-grid"' in page, row
        assert "<pre" not in page, row
        assert 'name="_save"' not in page and 'value="Save' not in page, row
        assert 'name="_continue"' not in page, row
    for model in ("basemodel", "finetunejob", "adapterversion", "evaluation"):
        assert 'class="gv-badge' in _page(user, f"/admin/training/{model}/")


def test_the_job_page_links_its_rows_shows_settings_as_a_table_and_the_loss_curve(officer, rows):
    page = _page(officer, _url(rows.done_job))

    for related in (rows.system, rows.base_model, rows.version, rows.adapter):
        assert f'href="{_url(related)}"' in page
    assert "<th scope='row'>rank</th><td>4</td>" in page  # hyperparameters as a table
    assert f'data-copy="{rows.done_job.request_sha256}"' in page  # the hash, shortened with a copy button
    assert "data:image/png;base64," in page  # the loss curve
    assert 'id="events-group"' in page and "an earlier attempt died" in page
    assert 'class="gv-badge gv-bad">error</span>' in page  # the event's level, as a badge


def test_a_running_job_page_polls_its_fragment_and_a_finished_one_does_not(engineer, rows):
    running = _page(engineer, _url(rows.running_job))
    fragment_url = _url(rows.running_job, "fragment/progress_fragment")
    assert f'data-poll="{fragment_url}"' in running
    assert "<progress value='50'" in running

    finished = _page(engineer, _url(rows.done_job))
    assert "data-poll=" not in finished and "data-poll-done" in finished


def test_the_job_fragment_shows_progress_and_says_when_the_job_is_done(engineer, rows):
    done = _client(engineer).get(_url(rows.done_job, "fragment/progress_fragment"))
    assert done.status_code == 200
    assert "no-store" in done["Cache-Control"]
    body = done.content.decode()
    assert "<progress value='100'" in body and "step 4 of 4" in body
    assert 'class="gv-badge gv-ok">Succeeded</span>' in body
    assert "data-poll-done" in body
    assert f'href="{_url(rows.adapter)}"' in body  # the adapter it produced

    running = _client(engineer).get(_url(rows.running_job, "fragment/progress_fragment")).content.decode()
    assert "step 2 of 4" in running and "data-poll-done" not in running


def test_the_adapter_page_shows_bars_against_the_threshold_and_a_lineage_with_links(auditor, rows):
    page = _page(auditor, _url(rows.adapter))

    assert 'class="gv-metrics"' in page
    # accuracy 0.40 is below the 0.50 threshold: the adapter's bar is red, the baseline's grey.
    assert 'gv-fill gv-bad" style="width: 40.0%"' in page
    assert 'gv-fill gv-off" style="width: 20.0%"' in page
    assert 'class="gv-badge gv-bad">failed</span>' in page
    lineage = page[page.index('class="gv-kv gv-lineage"') :]
    for related in (rows.done_job, rows.base_model):
        assert f'href="{_url(related)}"' in lineage
    assert f'href="/admin/governance/datasetversion/{rows.version.pk}/change/"' in lineage
    assert f"{rows.version.record_count} records" in lineage and "18 (0 skipped as too long)" in lineage
    assert "<th scope='row'>device</th><td>cpu</td>" in lineage  # the hardware record, as a table
    assert f'data-copy="{rows.adapter.sha256}"' in page
    assert "<th scope='row'>lora_alpha</th><td>8</td>" in page


def test_a_tainted_adapter_shows_its_reason_in_red(officer, rows):
    page = _page(officer, _url(rows.tainted))
    assert 'class="gv-taint gv-bad" role="alert"' in page
    assert "erasure request 7 names a subject in its data" in page


# --- Buttons on a row's page -----------------------------------------------------------------------


def test_the_buttons_are_offered_by_role_and_state(officer, engineer, auditor, rows):
    officer_page = _page(officer, _url(rows.adapter))
    for name in ("approve", "retire", "taint"):
        assert f'data-action="{name}" href="{_url(rows.adapter, "do/" + name)}"' in officer_page
    assert 'data-action="taint"' not in _page(officer, _url(rows.tainted))
    for reader in (engineer, auditor):
        assert 'data-action="approve"' not in _page(reader, _url(rows.adapter))

    assert f'data-action="cancel" href="{_url(rows.running_job, "do/cancel")}"' in _page(
        engineer, _url(rows.running_job)
    )
    assert 'data-action="cancel"' not in _page(engineer, _url(rows.done_job))
    assert 'data-action="cancel"' not in _page(auditor, _url(rows.running_job))


def test_an_officer_approves_a_passing_adapter_with_the_button_and_one_event_is_recorded(officer, rows):
    Evaluation.objects.filter(pk=rows.mine.pk).update(passed=True, score=0.9)
    url = _url(rows.adapter, "do/approve")
    assert 'name="justification"' in _page(officer, url)

    response = _client(officer).post(url, {"justification": ""})

    assert response.status_code == 302 and response["Location"] == _url(rows.adapter)
    rows.adapter.refresh_from_db()
    assert (rows.adapter.status, rows.adapter.approved_by) == ("approved", officer)
    assert rows.adapter.override_justification == ""
    events = AuditEvent.objects.filter(action="adapter_version.approved", object_id=str(rows.adapter.pk))
    assert events.count() == 1


def test_an_engineer_gets_403_on_the_approve_button(engineer, rows):
    url = _url(rows.adapter, "do/approve")
    assert _client(engineer).get(url).status_code == 403
    assert _client(engineer).post(url, {"justification": JUSTIFICATION}).status_code == 403
    rows.adapter.refresh_from_db()
    assert rows.adapter.status == "candidate"
    assert not AuditEvent.objects.filter(action="adapter_version.approved").exists()


def test_a_failed_adapter_without_a_justification_is_refused_with_the_service_code(officer, rows):
    url = _url(rows.adapter, "do/approve")

    refused = _client(officer).post(url, {"justification": ""})
    too_short = _client(officer).post(url, {"justification": "fine"})

    # The admin's message list capitalises the first letter of the service's code.
    assert refused.status_code == 409 and "(evaluation_failed)" in refused.content.decode().lower()
    assert too_short.status_code == 400
    assert "(invalid_override_justification)" in too_short.content.decode().lower()
    rows.adapter.refresh_from_db()
    assert (rows.adapter.status, rows.adapter.override_justification) == ("candidate", "")
    assert not AuditEvent.objects.filter(action="adapter_version.approved").exists()


def test_a_failed_adapter_is_approved_with_a_written_justification(officer, rows):
    response = _client(officer).post(_url(rows.adapter, "do/approve"), {"justification": JUSTIFICATION})

    assert response.status_code == 302
    rows.adapter.refresh_from_db()
    assert (rows.adapter.status, rows.adapter.override_justification, rows.adapter.override_by) == (
        "approved",
        JUSTIFICATION,
        officer,
    )
    event = AuditEvent.objects.get(action="adapter_version.approved", object_id=str(rows.adapter.pk))
    assert event.payload["override"]["failed_evaluations"] == [rows.mine.pk]


def test_the_taint_button_needs_a_reason(officer, rows):
    url = _url(rows.adapter, "do/taint")

    empty = _client(officer).post(url, {"reason": ""})
    done = _client(officer).post(url, {"reason": "licence withdrawn"})

    assert empty.status_code == 400
    assert done.status_code == 302
    rows.adapter.refresh_from_db()
    assert (rows.adapter.status, rows.adapter.taint_reason) == ("tainted", "licence withdrawn")
    assert (
        AuditEvent.objects.filter(action="adapter_version.tainted", object_id=str(rows.adapter.pk)).count()
        == 1
    )


def test_the_retire_button_retires(officer, rows):
    assert _client(officer).post(_url(rows.adapter, "do/retire")).status_code == 302
    rows.adapter.refresh_from_db()
    assert rows.adapter.status == "retired" and rows.adapter.retired_at is not None


def test_the_cancel_button_cancels_a_running_job_and_refuses_a_finished_one(engineer, auditor, rows):
    assert _client(auditor).post(_url(rows.running_job, "do/cancel")).status_code == 403

    done = _client(engineer).post(_url(rows.running_job, "do/cancel"))
    refused = _client(engineer).post(_url(rows.done_job, "do/cancel"))

    assert done.status_code == 302
    rows.running_job.refresh_from_db()
    assert rows.running_job.status == "cancelled"
    assert AuditEvent.objects.filter(action="fine_tune_job.cancelled").count() == 1
    assert refused.status_code == 409 and "(job_finished)" in refused.content.decode().lower()
    rows.done_job.refresh_from_db()
    assert rows.done_job.status == "succeeded"


# --- Dashboard cards and the story section -----------------------------------------------------------


def _cards(user: Any) -> dict[str, Any]:
    from governance.dashboard import cards_for

    return {card.key: card for card in cards_for(user)}


def _listed(user: Any, url: str) -> int:
    response = _client(user).get(url)
    assert response.status_code == 200, url
    assert "?e=1" not in response.get("Location", "")
    return int(response.context["cl"].result_count)


@pytest.mark.parametrize("role", ["officer", "auditor"])
def test_the_cards_count_what_the_database_holds_for_those_who_oversee(request, role, rows):
    user = request.getfixturevalue(role)
    cards = _cards(user)
    since = timezone.now() - timedelta(days=30)

    expected = {
        "adapters_tainted": AdapterVersion.objects.filter(status="tainted").count(),
        "evaluations_below_threshold": Evaluation.objects.filter(
            subject="adapter", passed=False, adapter_version__status="candidate"
        ).count(),
        "jobs_running": FineTuneJob.objects.filter(status__in=["queued", "validating", "running"]).count(),
        "jobs_failed": FineTuneJob.objects.filter(status="failed", finished_at__gte=since).count(),
    }
    assert {key: cards[key].count for key in expected} == expected == {
        "adapters_tainted": 1, "evaluations_below_threshold": 1, "jobs_running": 2, "jobs_failed": 2,
    }  # fmt: skip
    assert (cards["adapters_tainted"].tone, cards["jobs_failed"].tone, cards["jobs_running"].tone) == (
        "bad", "bad", "wait",
    )  # fmt: skip
    assert cards["jobs_running"].title == "Jobs running" and cards["jobs_failed"].title == "Jobs failed"
    assert f'href="{_url(rows.tainted)}"' in cards["adapters_tainted"].lines[0]
    for key, count in expected.items():
        assert _listed(user, cards[key].url) == count, key  # the card's link lists exactly what it counts


def test_an_engineer_sees_only_their_own_jobs_on_the_cards(engineer, rows):
    cards = _cards(engineer)

    assert cards["jobs_running"].title == "My jobs running" and cards["jobs_failed"].title == "My jobs failed"
    assert cards["jobs_running"].count == 1  # their running job, not the officer's queued one
    assert cards["jobs_failed"].count == 1  # yesterday's; the one 40 days ago is outside the window
    assert f'href="{_url(rows.my_failed_job)}"' in cards["jobs_failed"].lines[0]
    assert cards["adapters_tainted"].count == 1 and cards["evaluations_below_threshold"].count == 1
    for key in ("jobs_running", "jobs_failed"):
        assert _listed(engineer, cards[key].url) == cards[key].count, key

    page = _client(engineer).get("/admin/dashboard/cards/").content.decode()
    assert 'data-card="jobs_running"' in page and "My jobs running" in page


def test_an_approved_adapter_leaves_the_below_threshold_card(officer, rows):
    AdapterVersion.objects.filter(pk=rows.adapter.pk).update(status="approved")
    assert _cards(officer)["evaluations_below_threshold"].count == 0


def test_a_user_without_a_role_gets_no_training_card_or_section(outsider, rows):
    from training.dashboard import story_section

    assert not set(_cards(outsider)) & {"adapters_tainted", "jobs_running", "jobs_failed"}
    assert story_section(rows.system, outsider) is None


def test_the_story_section_lists_the_systems_jobs_and_adapters_with_scores(auditor, rows):
    from governance.dashboard import story_sections

    [section] = [s for s in story_sections(rows.system, auditor) if s.key == "training"]

    assert section.order == 40
    html = str(section.html)
    for job in (rows.done_job, rows.running_job, rows.failed_job):
        assert f'<a href="{_url(job)}">{job.pk}</a>' in html
    assert f'href="/admin/governance/datasetversion/{rows.version.pk}/change/"' in html
    assert f'<a href="{_url(rows.adapter)}">tiny-lora-1</a>' in html
    assert 'class="gv-badge gv-bad">Tainted</span>' in html
    assert 'gv-fill gv-bad" style="width: 40.0%"' in html and 'class="gv-badge gv-bad">failed</span>' in html
