# Two commands matter: `make run` and `make test`. Everything else is a step they call.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint bench fuzz stop services migrate demo static clean messages

install: $(STAMP)

# torch goes first and pinned: a looser requirement would pull the newest CUDA build (several GB).
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

# Commands start the embedded services they need themselves; this target starts them up front.
services: install
	$(PY) manage.py embedded_services start

migrate: services
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo
	$(PY) manage.py create_demo_base_model --register

# gunicorn does not serve static files; whitenoise serves what collectstatic gathers in STATIC_ROOT.
static: install
	$(PY) manage.py collectstatic --noinput --verbosity 0

run: demo static
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

# schemathesis lives in its own venv so its pins never meet the platform's.
FUZZ_VENV := .venv-fuzz
$(FUZZ_VENV)/.installed: tests/fuzz/requirements.txt
	test -x $(FUZZ_VENV)/bin/python || $(PYTHON) -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet -r tests/fuzz/requirements.txt
	touch $@

# The API fuzzed from its own OpenAPI schema, as an engineer and as an officer, on a throw-away database.
fuzz: services $(FUZZ_VENV)/.installed
	$(PY) tests/fuzz/run_schemathesis.py

# The Polish catalogue (locale/pl): collect new strings, then compile what translators filled in.
messages: install
	$(PY) manage.py makemessages -l pl --ignore=".venv*" --ignore=tests --ignore=.data --ignore=docker --no-obsolete
	$(PY) manage.py compilemessages -l pl --ignore=".venv*"

stop:
	test ! -x $(PY) || $(PY) manage.py embedded_services stop

clean: stop
	rm -rf .data
