# Two commands matter: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint bench stop services migrate demo clean

install: $(STAMP)

# torch goes first and pinned: a looser requirement would pull the newest CUDA build (several GB).
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

services: install
	$(PY) manage.py embedded_services start

migrate: services
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo
	$(PY) manage.py create_demo_base_model --register

run: demo
	$(PY) manage.py run_platform

test: services
	REDIS_DB=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: migrate
	$(PY) -m pytest tests/benchmarks -p no:randomly -s -o addopts="" $(PYTEST_ARGS)

stop:
	test ! -x $(PY) || $(PY) manage.py embedded_services stop

clean: stop
	rm -rf .data
