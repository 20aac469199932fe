"""Settings import without side effects, light management commands, production guards, pool, static."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client

from tests.conftest import ROOT, _database_url

HEAVY_MODULES = ("torch", "transformers", "spacy", "presidio_analyzer")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "PLATFORM_"))
    }
    env.pop("SECRET_KEY", None)
    env.pop("SUBJECT_KEY_SECRET", None)
    env.pop("ERASURE_IDENTIFIER_KEY", None)
    env.pop("TRAINING_BASE_MODEL_ROOTS", None)
    env["DJANGO_SETTINGS_MODULE"] = "governance.settings"
    env.update(extra)
    return env


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_settings_starts_no_service_and_writes_no_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    code = (
        "import psutil\n"
        "from governance import settings\n"
        "print(settings.DATABASES['default']['HOST'])\n"
        "print(settings.REDIS_URL)\n"
        "print(len(psutil.Process().children(recursive=True)))\n"
    )

    result = _python(code, _clean_env(EMBEDDED_DATA_DIR=str(data_dir)))

    assert result.returncode == 0, result.stderr
    host, redis_url, children = result.stdout.split()
    assert host == str(data_dir / "postgres")
    assert redis_url.startswith(f"redis+socket://{data_dir / 'redis' / 'redis.sock'}?virtual_host=")
    assert children == "0"
    assert list(data_dir.iterdir()) == []


@pytest.mark.django_db
def test_verify_audit_chain_imports_neither_torch_nor_transformers() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['manage.py', 'verify_audit_chain']\n"
        "runpy.run_path('manage.py', run_name='__main__')\n"
        f"print('heavy:', sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    env = _clean_env(
        DATABASE_URL=_database_url(),
        REDIS_URL=settings.REDIS_URL,
        SECRET_KEY=settings.SECRET_KEY,
        SUBJECT_KEY_SECRET=settings.SUBJECT_KEY_SECRET,
    )

    result = _python(code, env)

    assert result.returncode == 0, result.stderr
    assert "audit chain intact" in result.stdout
    assert "heavy: []" in result.stdout


def test_production_settings_refuse_to_load_without_base_model_roots() -> None:
    env = _clean_env(
        PLATFORM_ENV="production",
        SECRET_KEY="s" * 50,
        SUBJECT_KEY_SECRET="k" * 64,
        ERASURE_IDENTIFIER_KEY="e" * 64,
        DATABASE_URL="postgresql://u:p@db.invalid/governance",
        REDIS_URL="redis://redis.invalid:6379/0",
    )

    refused = _python("import governance.settings", env)
    loaded = _python("import governance.settings", {**env, "TRAINING_BASE_MODEL_ROOTS": "/srv/models"})

    assert refused.returncode == 1
    assert "ImproperlyConfigured: TRAINING_BASE_MODEL_ROOTS must be set when PLATFORM_ENV=production" in (
        refused.stderr
    )
    assert loaded.returncode == 0, loaded.stderr


def test_production_settings_refuse_to_load_without_the_erasure_identifier_key(tmp_path: Path) -> None:
    secret = tmp_path / "erasure-key"
    secret.write_text("f" * 64)
    env = _clean_env(
        PLATFORM_ENV="production",
        SECRET_KEY="s" * 50,
        SUBJECT_KEY_SECRET="k" * 64,
        TRAINING_BASE_MODEL_ROOTS="/srv/models",
        DATABASE_URL="postgresql://u:p@db.invalid/governance",
        REDIS_URL="redis://redis.invalid:6379/0",
    )

    refused = _python("import governance.settings", env)
    from_file = _python(
        "from governance import settings; print(settings.ERASURE_IDENTIFIER_KEY)",
        {**env, "ERASURE_IDENTIFIER_KEY_FILE": str(secret)},
    )

    assert refused.returncode == 1
    assert "ERASURE_IDENTIFIER_KEY (or ERASURE_IDENTIFIER_KEY_FILE) must be set" in refused.stderr
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.strip() == "f" * 64


def test_the_database_uses_a_bounded_psycopg_pool() -> None:
    db = settings.DATABASES["default"]

    assert db["OPTIONS"]["pool"] == {
        "min_size": settings.DB_POOL_MIN_SIZE,
        "max_size": settings.DB_POOL_MAX_SIZE,
        "timeout": settings.DB_POOL_TIMEOUT,
    }
    assert settings.DB_POOL_MAX_SIZE == 10
    assert db["CONN_MAX_AGE"] == 0


def test_collected_admin_static_files_are_served_by_whitenoise(settings: Any, tmp_path: Path) -> None:
    settings.STATIC_ROOT = str(tmp_path / "static")
    call_command("collectstatic", "--noinput", verbosity=0)

    response = Client().get("/static/admin/css/base.css")

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"/*")


def test_apps_read_settings_without_repeating_their_defaults() -> None:
    offenders = []
    for package in ("governance", "retrieval", "training"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text()
            if "getattr(settings," in source:
                offenders.append(f"{path.relative_to(ROOT)}: getattr(settings, ...)")
            if path.name == "conf.py" and "os.environ" in source:
                offenders.append(f"{path.relative_to(ROOT)}: os.environ")

    assert offenders == []
