"""Dataset version upload: validation, normalisation, split, and the PII scan through a real worker."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from governance.choices import DatasetVersionStatus, RecordSplit
from governance.models import AuditEvent, DatasetRecord, DatasetVersion
from tests.conftest import wait_for
from tests.factories import DatasetFactory


def _jsonl(records: list[object]) -> bytes:
    return "\n".join(json.dumps(r) for r in records).encode() + b"\n"


def _records(n: int) -> list[dict[str, str]]:
    return [{"input": f"question {i}", "output": f"answer {i}"} for i in range(n)]


def _upload(client, dataset, content: bytes, name: str = "data.jsonl", **extra):
    file = SimpleUploadedFile(name, content, content_type="application/jsonl")
    return client.post(
        f"/api/v1/datasets/{dataset.pk}/versions/", {"file": file, **extra}, format="multipart"
    )


@pytest.fixture
def dataset(engineer):
    return DatasetFactory(owner=engineer)


@pytest.mark.django_db
def test_an_upload_becomes_version_one_with_a_seeded_ten_percent_holdout(api, engineer, dataset):
    response = _upload(api(engineer), dataset, _jsonl(_records(100)))
    assert response.status_code == 201, response.content
    body = response.json()
    expected = _expected_holdout(body["id"], fraction=0.1, seed=0)
    assert (body["number"], body["record_count"], body["holdout_count"]) == (1, 100, len(expected))
    assert 3 <= len(expected) <= 20  # about 10%: each record is drawn on its own
    assert body["status"] == DatasetVersionStatus.PENDING
    assert _holdout(body["id"]) == expected


def _holdout(version_id: int) -> set[str]:
    rows = DatasetRecord.objects.filter(version_id=version_id, split=RecordSplit.HOLDOUT)
    return set(rows.values_list("sha256", flat=True))


def _splits(version_id: int) -> dict[str, str]:
    return dict(DatasetRecord.objects.filter(version_id=version_id).values_list("sha256", "split"))


def _expected_holdout(version_id: int, *, fraction: float, seed: int) -> set[str]:
    """The documented rule, written out independently of the service."""
    expected = set()
    for digest in DatasetRecord.objects.filter(version_id=version_id).values_list("sha256", flat=True):
        score = int(hashlib.sha256(f"{seed}:{digest}".encode()).hexdigest()[:16], 16) / 2**64
        if score < fraction:
            expected.add(digest)
    return expected


@pytest.mark.django_db
def test_the_same_file_and_seed_give_the_same_split_in_a_second_version(api, engineer, dataset):
    content = _jsonl(_records(50))
    first = _upload(api(engineer), dataset, content, split_seed=42).json()
    second = _upload(api(engineer), dataset, content, split_seed=42).json()
    assert second["number"] == 2

    assert _holdout(first["id"]) == _holdout(second["id"])
    other = _upload(api(engineer), dataset, content, split_seed=7).json()
    assert _holdout(other["id"]) != _holdout(first["id"])


@pytest.mark.django_db
def test_exact_duplicates_are_removed_and_counted(api, engineer, dataset):
    records = _records(5) + [{"output": "answer 0", "input": "  question 0 "}]  # same after normalising
    body = _upload(api(engineer), dataset, _jsonl(records)).json()
    assert (body["record_count"], body["duplicates_removed"]) == (5, 1)


@pytest.mark.django_db
def test_each_record_stores_the_sha256_of_its_normalised_form(api, engineer, dataset):
    body = _upload(api(engineer), dataset, _jsonl([{"output": " b ", "input": "a"}])).json()
    expected = hashlib.sha256(b'{"input":"a","output":"b"}').hexdigest()
    assert DatasetRecord.objects.get(version_id=body["id"]).sha256 == expected


@pytest.mark.django_db
def test_chat_message_records_are_accepted(api, engineer, dataset):
    record = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    body = _upload(api(engineer), dataset, _jsonl([record, {"input": "x", "output": "y"}])).json()
    assert body["record_format"] == "mixed"


@pytest.mark.django_db
def test_a_version_is_immutable_through_the_api(api, engineer, dataset):
    body = _upload(api(engineer), dataset, _jsonl(_records(10))).json()
    response = api(engineer).patch(f"/api/v1/dataset-versions/{body['id']}/", {"reason": "x"}, format="json")
    assert response.status_code == 405


# --- Bad inputs: each gets a clear error and leaves what is stored unchanged -----------------------

BAD_FILES = [
    ("malformed_json", b'{"input": "a", "output": "b"}\n{"input": "a", \n', 400, "invalid_json", 2),
    ("not_an_object", b'{"input": "a", "output": "b"}\n[1, 2, 3]\n', 400, "not_an_object", 2),
    ("missing_output", b'{"input": "a"}\n', 400, "missing_field", 1),
    ("non_utf8", b'{"input": "a", "output": "\xff\xfe"}\n', 400, "invalid_utf8", 1),
    ("empty_file", b"", 400, "empty_file", None),
    ("lone_surrogate", b'{"input": "a \\ud800", "output": "b"}\n', 400, "invalid_character", 1),
    (
        "infinite_number",
        b'{"input": "a", "output": "b", "metadata": {"x": 1e400}}\n',
        400,
        "invalid_number",
        1,
    ),
    ("nan_literal", b'{"input": "a", "output": "b", "metadata": {"x": NaN}}\n', 400, "invalid_number", 1),
    (
        "deep_nesting",
        b'{"input": "a", "output": "b", "metadata": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n",
        400,
        "too_deeply_nested",
        1,
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("label", "content", "status", "code", "line"), BAD_FILES, ids=[b[0] for b in BAD_FILES]
)
def test_a_bad_file_is_refused_with_its_line_and_nothing_is_stored(
    api, engineer, dataset, label, content, status, code, line
):
    _upload(api(engineer), dataset, _jsonl(_records(3)))
    before = (DatasetVersion.objects.count(), DatasetRecord.objects.count(), AuditEvent.objects.count())
    response = _upload(api(engineer), dataset, content)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if line is not None:
        assert f"line {line}" in error["message"]
        assert error["details"]["errors"][0]["line"] == line
    assert (
        DatasetVersion.objects.count(),
        DatasetRecord.objects.count(),
        AuditEvent.objects.count(),
    ) == before


@pytest.mark.django_db
def test_a_missing_field_is_named_in_the_error(api, engineer, dataset):
    error = _upload(api(engineer), dataset, b'{"input": "a"}\n').json()["error"]
    assert error["details"]["errors"][0]["field"] == "output"


@pytest.mark.django_db
def test_a_file_over_the_size_limit_gets_413(api, engineer, dataset, settings):
    settings.DATASET_MAX_BYTES = 1000
    response = _upload(api(engineer), dataset, _jsonl(_records(100)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_a_file_over_the_record_limit_gets_413(api, engineer, dataset, settings):
    settings.DATASET_MAX_RECORDS = 10
    response = _upload(api(engineer), dataset, _jsonl(_records(11)))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_many_records"
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_a_fifty_megabyte_single_line_gets_413_naming_the_line(api, engineer, dataset):
    line = b'{"input": "' + b"a" * (50 * 1024 * 1024) + b'", "output": "b"}\n'
    response = _upload(api(engineer), dataset, line)
    assert response.status_code == 413
    error = response.json()["error"]
    assert (error["code"], error["details"]["line"]) == ("line_too_long", 1)
    assert not DatasetVersion.objects.exists()


def _raw_multipart(filename: bytes, content: bytes) -> tuple[bytes, str]:
    boundary = "XyZboundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + filename
        + b'"\r\nContent-Type: application/jsonl\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.django_db
@pytest.mark.parametrize("filename", [b"../../etc/passwd.jsonl", b"data\x00.jsonl", b"..\\x.jsonl"])
def test_a_filename_with_a_path_or_a_nul_byte_is_refused(api, engineer, dataset, filename):
    body, content_type = _raw_multipart(filename, _jsonl(_records(3)))
    response = api(engineer).generic("POST", f"/api/v1/datasets/{dataset.pk}/versions/", body, content_type)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid_filename"
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fraction", ["0.05", "0.5", "nan", "abc"])
def test_a_holdout_fraction_outside_ten_to_twenty_percent_is_refused(api, engineer, dataset, fraction):
    response = _upload(api(engineer), dataset, _jsonl(_records(20)), holdout_fraction=fraction)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"invalid_holdout_fraction", "validation_failed"}
    assert not DatasetVersion.objects.exists()


@pytest.mark.django_db
def test_a_twenty_percent_holdout_is_accepted(api, engineer, dataset):
    body = _upload(api(engineer), dataset, _jsonl(_records(50)), holdout_fraction="0.2").json()
    assert body["holdout_fraction"] == 0.2
    assert _holdout(body["id"]) == _expected_holdout(body["id"], fraction=0.2, seed=0)
    assert body["holdout_count"] == len(_holdout(body["id"]))


@pytest.mark.django_db
def test_every_remaining_record_keeps_its_split_when_others_are_removed(api, engineer, dataset):
    records = _records(200)
    first = _upload(api(engineer), dataset, _jsonl(records), split_seed=3).json()
    before = _splits(first["id"])
    held = _holdout(first["id"])
    assert held
    # Remove half the hold-out and a quarter of the rest, as an erasure would: under the old rank rule
    # the cut-off moved and training records slid into the hold-out.
    kept = [
        r
        for r in records
        if (_digest(r) in held and int(r["input"].split()[1]) % 2)
        or (_digest(r) not in held and int(r["input"].split()[1]) % 4)
    ]
    second = _upload(api(engineer), dataset, _jsonl(kept), split_seed=3).json()
    after = _splits(second["id"])
    assert second["record_count"] == len(kept) < len(records)
    assert after == {digest: before[digest] for digest in after}
    assert second["holdout_count"] == len(_holdout(second["id"])) > 0


@pytest.mark.django_db
def test_a_tiny_upload_holds_out_one_record_and_keeps_it_when_others_are_removed(api, engineer, dataset):
    records = _records(5)
    seed = next(s for s in range(100) if not _rule_holdout(records, fraction=0.1, seed=s))
    first = _upload(api(engineer), dataset, _jsonl(records), split_seed=seed).json()
    assert first["holdout_count"] == 1  # no record under the threshold: the lowest-scored one
    (held,) = _holdout(first["id"])
    kept = [r for r in records if _digest(r) == held] + [r for r in records if _digest(r) != held][:2]
    second = _upload(api(engineer), dataset, _jsonl(kept), split_seed=seed).json()
    assert _holdout(second["id"]) == {held}


@pytest.mark.django_db
def test_a_version_without_its_only_holdout_record_never_moves_a_training_record_into_it(
    api, engineer, dataset
):
    records = _records(5)
    seed = next(s for s in range(100) if not _rule_holdout(records, fraction=0.1, seed=s))
    first = _upload(api(engineer), dataset, _jsonl(records), split_seed=seed).json()
    (held,) = _holdout(first["id"])
    second = _upload(
        api(engineer), dataset, _jsonl([r for r in records if _digest(r) != held]), split_seed=seed
    )
    assert second.json()["holdout_count"] == 0  # fine-tuning then refuses it with `no_holdout`


@pytest.mark.django_db
def test_a_new_seed_draws_a_new_split_instead_of_inheriting_the_parents(api, engineer, dataset):
    records = _records(100)
    _upload(api(engineer), dataset, _jsonl(records), split_seed=1)
    second = _upload(api(engineer), dataset, _jsonl(records), split_seed=2).json()
    assert _holdout(second["id"]) == _expected_holdout(second["id"], fraction=0.1, seed=2)


def _digest(record: dict[str, str]) -> str:
    line = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(line.encode()).hexdigest()


def _rule_holdout(records: list[dict[str, str]], *, fraction: float, seed: int) -> set[str]:
    return {
        d
        for d in map(_digest, records)
        if int(hashlib.sha256(f"{seed}:{d}".encode()).hexdigest()[:16], 16) / 2**64 < fraction
    }


# --- The scan, through a real Celery worker and broker ---------------------------------------------

PII_RECORDS = [
    {"input": "My e-mail is anna.nowak@example.com, call +48 601 234 567.", "output": "Thanks, Anna Nowak."},
    {"input": "PESEL 44051401458 and IBAN PL61109010140000071219812874", "output": "Noted."},
    {"input": "How do I reset my password?", "output": "Use the link on the sign-in page."},
]


@pytest.mark.django_db(transaction=True)
def test_the_worker_scans_a_version_and_raises_contains_personal_data(api, engineer, celery_worker):
    dataset = DatasetFactory(owner=engineer)
    body = _upload(api(engineer), dataset, _jsonl(PII_RECORDS * 1 + _records(7))).json()
    version = wait_for(
        lambda: DatasetVersion.objects.filter(pk=body["id"], status=DatasetVersionStatus.READY).first(),
        timeout=180,
    )
    assert version.scanned_records == version.record_count == 10
    assert version.contains_personal_data
    assert version.pii_summary["EMAIL_ADDRESS"] == 1
    assert version.pii_summary["PL_PESEL"] == 1
    dataset.refresh_from_db()
    assert dataset.contains_personal_data
    first = DatasetRecord.objects.get(version=version, ordinal=0)
    assert len(first.subject_keys) >= 2
    assert "anna" not in json.dumps(first.subject_keys + [first.pii_summary]).lower()
    clean = DatasetRecord.objects.get(version=version, ordinal=2)
    assert clean.subject_keys == []
    scanned = AuditEvent.objects.get(action="dataset_version.scanned", object_id=str(version.pk))
    assert scanned.payload["contains_personal_data"] is True


@pytest.mark.django_db
def test_a_rescan_of_a_finished_version_changes_nothing(api, engineer, dataset):
    from governance.tasks import scan_dataset_version

    body = _upload(api(engineer), dataset, _jsonl(PII_RECORDS)).json()
    scan_dataset_version(body["id"])
    events = AuditEvent.objects.count()
    scan_dataset_version(body["id"])
    assert AuditEvent.objects.count() == events
    assert DatasetVersion.objects.get(pk=body["id"]).status == DatasetVersionStatus.READY


@pytest.mark.django_db
def test_a_scan_interrupted_half_way_resumes_from_where_it_stopped(api, engineer, dataset, settings):
    from governance.services import scanning

    settings.DATASET_SCAN_BATCH = 2
    records = [PII_RECORDS[0], *_records(3), PII_RECORDS[1]]
    body = _upload(api(engineer), dataset, _jsonl(records)).json()
    scanning.dataset_version_claim_scan(version_id=body["id"])
    DatasetVersion.objects.filter(pk=body["id"]).update(
        scanned_records=4
    )  # as if a crash came after 2 batches
    version = scanning.dataset_version_scan(version_id=body["id"])
    assert version.status == DatasetVersionStatus.READY
    # Records before the resume point were not rescanned (their keys stay empty in this simulation);
    # the one after it was.
    assert DatasetRecord.objects.get(version_id=body["id"], ordinal=0).subject_keys == []
    assert DatasetRecord.objects.get(version_id=body["id"], ordinal=4).subject_keys != []
    assert version.pii_summary == {"PL_PESEL": 1, "IBAN_CODE": 1}


def test_a_raw_control_character_in_a_line_is_named_once_with_its_column() -> None:
    from governance.jsonl import RecordInvalid, parse_line

    with pytest.raises(RecordInvalid) as refused:
        parse_line(b'{"input": "a\x01b", "output": "c"}', line=1, max_depth=32)

    assert (refused.value.code, refused.value.message) == (
        "invalid_json",
        "invalid JSON: Invalid control character at column 13",
    )
