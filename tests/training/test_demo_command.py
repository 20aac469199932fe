"""`create_demo_base_model --register` is safe to call on every `make run`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from training.models import BaseModel


@pytest.mark.django_db
def test_registering_the_demo_model_twice_keeps_one_base_model(tmp_path) -> None:
    target = tmp_path / "demo"
    call_command("create_demo_base_model", "--register", "--path", str(target), stdout=io.StringIO())
    out = io.StringIO()
    call_command("create_demo_base_model", "--register", "--path", str(target), stdout=out)
    assert "already registered" in out.getvalue()
    assert BaseModel.objects.filter(name="demo-tiny-llama").count() == 1


@pytest.mark.django_db
def test_the_demo_name_registered_at_another_path_is_an_error(tmp_path) -> None:
    call_command("create_demo_base_model", "--register", "--path", str(tmp_path / "a"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="another path"):
        call_command(
            "create_demo_base_model", "--register", "--path", str(tmp_path / "b"), stdout=io.StringIO()
        )
