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

# The steps `make run` takes (and the tests, lint and fuzzing) write bytecode as they import: the install
# compiles nothing up front, and an environment that sets PYTHONDONTWRITEBYTECODE would otherwise
# recompile every module in every process on every start (a test run starts dozens of them).
$(STAMP) services migrate demo static run bench test lint fuzz: export PYTHONDONTWRITEBYTECODE :=

# One resolution, torch pinned with the rest (a looser requirement would pull the newest CUDA build, several
# GB) and every other package at its requirements.lock pin. --no-compile: compiling all ~19,000 files took
# half the install; the few thousand the platform imports are compiled by their first import, and the
# rest at low priority in the background (the same bytecode, so nothing differs once it is done). The venv
# gets pip 24+ from the system's pip when there is one, instead of installing Python's bundled pip first.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || { $(PYTHON) -m venv --without-pip $(VENV) && \
	  { $(PYTHON) -m pip --python $(PY) install --quiet --no-compile "pip>=24" || $(PY) -m ensurepip; }; }
	$(PY) -m pip install --quiet --no-compile "pip>=24"
	$(PY) -m pip install --quiet --no-compile -c requirements.lock torch==2.13.0 -e ".[dev]"
	touch $(STAMP)
	nice -n 19 $(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 &

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

# One process does what `demo` and `static` do (collectstatic, migrate, the demo: each a no-op once done,
# the demo's first load and model build in two processes at once), then serves; see run_platform.
run: install
	$(PY) manage.py run_platform --prepare

# The whole suite runs on three xdist workers (on two cores: the tests wait on workers and browsers often
# enough that a third keeps both busy); each has its own test database, broker key prefix and
# Celery worker (tests/conftest.py), so no worker consumes another's tasks. Named test paths run in one
# process (no second database to migrate); TEST_WORKERS=0 runs everything in one, TEST_WORKERS=n on n.
TEST_WORKERS ?= $(if $(filter tests/%,$(PYTEST_ARGS)),0,3)
test: services
	REDIS_DB=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

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

# LlamaIndex, the indexing benchmark's peer, lives in its own venv so its pins never meet the platform's;
# torch goes in first at the platform's pin (the local CPU wheel), so nothing can pull a CUDA build.
PEER_VENV := .venv-peer
$(PEER_VENV)/.installed: tests/benchmarks/peer/requirements.txt
	test -x $(PEER_VENV)/bin/python || $(PYTHON) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install --quiet --no-compile torch==2.13.0
	$(PEER_VENV)/bin/pip install --quiet --no-compile -r tests/benchmarks/peer/requirements.txt
	touch $@

# Indexing against LlamaIndex PGVectorStore, same documents and model (test_indexing_peer_bench.py).
.PHONY: bench-peer
bench-peer: export PYTHONDONTWRITEBYTECODE :=
bench-peer: migrate $(PEER_VENV)/.installed
	$(PY) -m pytest tests/benchmarks/test_indexing_peer_bench.py -p no:randomly -s -o addopts="" $(PYTEST_ARGS)

# The Polish catalogue (locale/pl): collect new strings, then compile what translators filled in.
messages: install
	$(PY) manage.py makemessages -l pl --ignore=".venv*" --ignore=tests --ignore=.data --ignore=docker --no-obsolete
	$(PY) manage.py compilemessages -l pl --ignore=".venv*"

stop:
	test ! -x $(PY) || $(PY) manage.py embedded_services stop

clean: stop
	rm -rf .data
