"""Settings for the governance platform: one module, driven by environment variables.

Secrets may be given as NAME or NAME_FILE (a path whose content is the value). Without DATABASE_URL /
REDIS_URL the embedded PostgreSQL + pgvector and Redis are used (see governance/embedded.py). Importing
this module has no side effects: it starts no server and writes no file; manage.py, wsgi.py, the Celery
worker and the test suite start the embedded services (embedded.start_services) before they need them.
"""

from __future__ import annotations

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.core.exceptions import ImproperlyConfigured

from governance import embedded

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the file named by NAME_FILE."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_float(name: str, default: float) -> float:
    value = env(name)
    return default if value is None else float(value)


def database_from_url(url: str) -> dict[str, object]:
    """Turn postgresql://user:pass@host:port/name?host=/socket/dir into Django's DATABASES entry."""
    parsed = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    host = query.pop("host", None) or parsed.hostname or ""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parsed.path.lstrip("/")),
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": unquote(host),
        "PORT": str(parsed.port or ""),
        # psycopg 3's pool (Django 5.2): each process keeps at most DB_POOL_MAX_SIZE connections and a
        # request that finds them all busy waits up to DB_POOL_TIMEOUT s, so load queues instead of
        # exhausting the server's max_connections. The pool needs CONN_MAX_AGE = 0.
        "OPTIONS": {**query, **_pool_options()},
        "CONN_MAX_AGE": 0 if DB_POOL else env_int("DB_CONN_MAX_AGE", 0),
        "CONN_HEALTH_CHECKS": not DB_POOL,
        "TEST": {"NAME": env("TEST_DATABASE_NAME", f"test_governance_{_RUN_ID}")},
    }


def _pool_options() -> dict[str, object]:
    if not DB_POOL:
        return {}
    return {"pool": {"min_size": DB_POOL_MIN_SIZE, "max_size": DB_POOL_MAX_SIZE, "timeout": DB_POOL_TIMEOUT}}


PRODUCTION = env("PLATFORM_ENV", "development") == "production"
# Under pytest every run gets its own test database and broker key prefix, so two runs on one machine
# (or a run beside `make run`) never consume each other's tasks or drop each other's database.
TESTING = "pytest" in sys.modules
_RUN_ID = f"{os.getpid()}"
DEBUG = env_bool("DEBUG", not PRODUCTION)


def _local_secret(name: str) -> str:
    """A per-installation development secret kept under the data dir (never used in production).

    embedded.start_services() writes it; a process that never started them (`check`, mypy) gets a
    throwaway value, as it touches no data keyed by it.
    """
    try:
        return embedded.local_secret_path(name).read_text().strip()
    except FileNotFoundError:
        return secrets.token_hex(32)


def _required_secret(name: str) -> str:
    value = env(name)
    if value:
        return value
    if PRODUCTION:
        raise RuntimeError(f"{name} (or {name}_FILE) must be set when PLATFORM_ENV=production")
    return _local_secret(name.lower())


SECRET_KEY = _required_secret("SECRET_KEY")
# Subject keys are HMAC-SHA256(SUBJECT_KEY_SECRET, type:normalised value) (DESIGN section 6).
SUBJECT_KEY_SECRET = _required_secret("SUBJECT_KEY_SECRET")

ALLOWED_HOSTS = (env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver") or "").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in (env("CSRF_TRUSTED_ORIGINS", "") or "").split(",") if o]

INSTALLED_APPS = [
    # The admin with the platform's site (governance/admin_site.py): the dashboard is its index.
    "governance.apps.GovernanceAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "governance.apps.GovernanceConfig",
    "retrieval.apps.RetrievalConfig",
    "training.apps.TrainingConfig",
    "answers.apps.AnswersConfig",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT (the admin's CSS and JS, filled by `collectstatic`) from gunicorn.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The admin speaks English or Polish (the `django_language` cookie the language switch sets, else
    # Accept-Language); dates are shown in the reader's time zone (the `tz` cookie ui.js sets).
    "django.middleware.locale.LocaleMiddleware",
    "governance.middleware.ReaderTimezoneMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out admin login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

# --- Login throttling (django-axes) -----------------------------------------------------------------
# The admin login and the API token endpoint (POST /api/v1/auth/token/) count failed passwords per
# username and client address; after AXES_FAILURE_LIMIT failures that pair is refused (the admin shows
# a lockout page, the API answers 429 too_many_login_attempts), even with the right password, until
# AXES_COOLOFF_MINUTES pass or `manage.py axes_reset` clears it.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_MINUTES = env_int("AXES_COOLOFF_MINUTES", 15)
AXES_COOLOFF_TIME = timedelta(minutes=AXES_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "axes/lockout.html"
AXES_VERBOSE = False

ROOT_URLCONF = "governance.urls"
WSGI_APPLICATION = "governance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Connection pool per process (web worker, Celery worker); 0 for DB_POOL_MAX_SIZE turns pooling off.
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10)
DB_POOL_MIN_SIZE = min(env_int("DB_POOL_MIN_SIZE", 1), DB_POOL_MAX_SIZE)
DB_POOL_TIMEOUT = env_float("DB_POOL_TIMEOUT", 30.0)
DB_POOL = DB_POOL_MAX_SIZE > 0

_database_url = env("DATABASE_URL")
EMBEDDED_POSTGRES = not _database_url
if EMBEDDED_POSTGRES:
    _database_url = embedded.postgres_uri()
assert _database_url is not None
DATABASES = {"default": database_from_url(_database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

_redis_url = env("REDIS_URL")
EMBEDDED_REDIS = not _redis_url
REDIS_DB = env_int("REDIS_DB", 0)
if EMBEDDED_REDIS:
    _redis_url = f"redis+socket://{embedded.redis_socket()}?virtual_host={REDIS_DB}"
REDIS_URL = _redis_url

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
LANGUAGES = [("en-gb", "English"), ("pl", "Polski")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / ".data" / "static")) or "")
# `make run` runs collectstatic (a plain copy: whitenoise's compressed manifest storage took ~2 minutes
# for the Swagger/Redoc bundles on a small machine) and whitenoise serves STATIC_ROOT from gunicorn.
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(embedded.data_dir() / "media")) or "")
MEDIA_URL = "/media/"
# Uploads above this stay on disk while the request reads them, so a large JSONL never sits in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# DATA_UPLOAD_MAX_MEMORY_SIZE (the largest non-file body read into memory) follows the retrieval JSON
# batch limit below, so a JSON batch of documents is bounded by RETRIEVAL_MAX_JSON_BYTES, as documented.

# --- Datasets -------------------------------------------------------------------------------------
DATASET_MAX_BYTES = env_int("DATASET_MAX_BYTES", 512 * 1024 * 1024)
DATASET_MAX_RECORDS = env_int("DATASET_MAX_RECORDS", 2_000_000)
DATASET_MAX_LINE_BYTES = env_int("DATASET_MAX_LINE_BYTES", 1024 * 1024)
DATASET_MAX_JSON_DEPTH = env_int("DATASET_MAX_JSON_DEPTH", 32)
DATASET_DEFAULT_HOLDOUT = env_float("DATASET_DEFAULT_HOLDOUT", 0.10)
DATASET_SCAN_BATCH = env_int("DATASET_SCAN_BATCH", 500)
# A scan of at least DATASET_SCAN_PARALLEL_MIN_RECORDS records runs in DATASET_SCAN_PROCESSES scanner
# processes (governance/pii/processes.py; 0: one per core this process may use), batches stored in order.
# 1 keeps every scan in the worker's process. Each scanner takes 2-3 s to start and about 200 MB.
DATASET_SCAN_PROCESSES = env_int("DATASET_SCAN_PROCESSES", 0)
DATASET_SCAN_PARALLEL_MIN_RECORDS = env_int("DATASET_SCAN_PARALLEL_MIN_RECORDS", 5000)

# --- PII ------------------------------------------------------------------------------------------
# "spacy" finds names with en_core_web_sm; "regex" runs only the pattern recognisers (5x faster, no names).
PII_ENGINE = env("PII_ENGINE", "spacy")
PII_SCORE_THRESHOLD = env_float("PII_SCORE_THRESHOLD", 0.5)
# Regions for nationally written phone numbers (international +NN numbers are found regardless). The
# order decides which region normalises a number, so changing it changes phone subject keys. Home
# region first; each region is one more phonenumbers pass (~2 ms of CPU per KB). DE is left out: its
# numbering plan accepts amounts such as "3538.11" and groups of IBAN digits.
PII_PHONE_REGIONS = tuple((env("PII_PHONE_REGIONS", "PL,GB,US") or "").split(","))
# Most identifiers one erasure request may name (governance.pii.identifiers); more is refused with 400.
ERASURE_MAX_IDENTIFIERS = env_int("ERASURE_MAX_IDENTIFIERS", 10_000)
# Encrypts an erasure request's raw identifiers while it runs (verification searches text for them after
# the purge); the ciphertext is destroyed when the request ends. Any string: a Fernet key is derived.
ERASURE_IDENTIFIER_KEY = _required_secret("ERASURE_IDENTIFIER_KEY")
# The physical purge (VACUUM of the affected partitions, file deletion, index rebuilds) follows the
# logical erasure within this many seconds: the beat sweep purges what is due every
# ERASURE_PURGE_SWEEP_S. 0 purges right after the logical phase.
ERASURE_PURGE_WITHIN_S = env_int("ERASURE_PURGE_WITHIN_S", 3600)
ERASURE_RECEIVED_MAX_AGE_DAYS = env_int("ERASURE_RECEIVED_MAX_AGE_DAYS", 366)  # older receipt dates are typos
ERASURE_PURGE_SWEEP_S = env_int("ERASURE_PURGE_SWEEP_S", 300)
# Access and portability requests (governance/services/subject_access.py): the response package is
# deleted this long after it is built (default 7 days), and after its first download when single use;
# the sweep deletes expired packages this often. The letter names the controller and the authority a
# complaint can be lodged with (Art. 15(1)(f)); empty leaves a placeholder the officer must fill.
SUBJECT_PACKAGE_TTL_S = env_int("SUBJECT_PACKAGE_TTL_S", 7 * 24 * 3600)
SUBJECT_PACKAGE_SINGLE_USE = env_bool("SUBJECT_PACKAGE_SINGLE_USE", True)
SUBJECT_PACKAGE_SWEEP_S = env_int("SUBJECT_PACKAGE_SWEEP_S", 600)
SUBJECT_REQUEST_CONTROLLER = env("SUBJECT_REQUEST_CONTROLLER", "") or ""
SUBJECT_REQUEST_AUTHORITY = env("SUBJECT_REQUEST_AUTHORITY", "") or ""
# Retention (governance/services/retention.py, GDPR Art. 5(1)(e)): the beat sweep lists datasets past
# `retention_until` and documents past their collection's retention every RETENTION_SWEEP_S, e-mails the
# compliance officers RETENTION_NOTICE_DAYS before a due date, and removes the data on it (unless held).
RETENTION_SWEEP_S = env_int("RETENTION_SWEEP_S", 3600)
RETENTION_NOTICE_DAYS = env_int("RETENTION_NOTICE_DAYS", 14)
# Mail (retention notices). Without EMAIL_BACKEND set, messages are written as files under
# EMAIL_FILE_PATH (development); production sets the SMTP backend and EMAIL_HOST.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = Path(env("EMAIL_FILE_PATH", str(embedded.data_dir() / "mail")) or "")
EMAIL_HOST = env("EMAIL_HOST", "localhost") or "localhost"
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "governance@localhost") or "governance@localhost"
# Deployments: how often the beat re-runs the gates of approved and active deployments (a DPIA that
# expired, a base model tainted by hand) and blocks those that no longer pass.
DEPLOYMENT_RECHECK_S = env_int("DEPLOYMENT_RECHECK_S", 300)

# Answers of active deployments (answers/).
ANSWER_MAX_QUESTION_CHARS = env_int("ANSWER_MAX_QUESTION_CHARS", 2000)
ANSWER_DEFAULT_NEW_TOKENS = env_int("ANSWER_DEFAULT_NEW_TOKENS", 64)
ANSWER_MAX_NEW_TOKENS = env_int("ANSWER_MAX_NEW_TOKENS", 1024)
ANSWER_RATE_PER_MINUTE = env_int("ANSWER_RATE_PER_MINUTE", 60)  # per user (token); 0 switches it off
ANSWER_LOCAL_MAX_MODELS = env_int("ANSWER_LOCAL_MAX_MODELS", 2)  # loaded per process, least recent unloaded
ANSWER_HTTP_TIMEOUT_S = env_float("ANSWER_HTTP_TIMEOUT_S", 30.0)
ANSWER_HTTP_RETRIES = env_int("ANSWER_HTTP_RETRIES", 2)  # on 5xx and refused connections
ANSWER_INFERENCE_API_KEY = (
    env("ANSWER_INFERENCE_API_KEY", "") or ""
)  # sent as a Bearer token (vLLM --api-key)
ANSWER_HTTP_MAX_BYTES = env_int("ANSWER_HTTP_MAX_BYTES", 4 * 1024 * 1024)
ANSWER_BREAKER_FAILURES = env_int("ANSWER_BREAKER_FAILURES", 5)
ANSWER_BREAKER_RESET_S = env_float("ANSWER_BREAKER_RESET_S", 30.0)
ANSWER_SIGNAL_MIN_ANSWERS = env_int("ANSWER_SIGNAL_MIN_ANSWERS", 20)
# Reports: the longest period one audit report may cover, in days.
REPORT_MAX_PERIOD_DAYS = env_int("REPORT_MAX_PERIOD_DAYS", 3660)
# Events printed in an audit report PDF (its summary tables cover them all; CSV and JSON list them all).
REPORT_PDF_MAX_EVENTS = env_int("REPORT_PDF_MAX_EVENTS", 500)

# --- Celery ---------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300)
# A message whose worker died unacknowledged is redelivered after this many seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 7200),
    "global_keyprefix": env("CELERY_KEY_PREFIX", f"test{_RUN_ID}:" if TESTING else "") or "",
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The claim primitive (governance/claim.py): a row whose owner's heartbeat is older than this is taken
# over; after this many claims a row is failed; the beat sweep re-sends stale rows this often.
CLAIM_STALE_AFTER_S = env_int("CLAIM_STALE_AFTER_S", 300)
CLAIM_MAX_ATTEMPTS = env_int("CLAIM_MAX_ATTEMPTS", 3)
CLAIM_SWEEP_INTERVAL_S = env_int("CLAIM_SWEEP_INTERVAL_S", 60)
# run_platform: gunicorn's processes and threads per process (bounded, so load queues instead of failing).
PLATFORM_WEB_WORKERS = env_int("PLATFORM_WEB_WORKERS", 2)
PLATFORM_WEB_THREADS = env_int("PLATFORM_WEB_THREADS", 4)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["governance.api.filters.StrictFilterBackend"],
    "DEFAULT_PARSER_CLASSES": [
        "governance.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "governance.api.parsers.StrictMultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 500)
API_MAX_JSON_DEPTH = env_int("API_MAX_JSON_DEPTH", 64)  # deeper JSON bodies get 400

SPECTACULAR_SETTINGS = {
    "TITLE": "AI Governance Platform API",
    "DESCRIPTION": "Registers, datasets, DPIAs, retrieval, fine-tuning and the audit chain.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several registers have a field named "status"; name each choice set after its class.
    "ENUM_NAME_OVERRIDES": {
        "RiskLevelEnum": "governance.choices.Level",
        "RetrievalModeEnum": "retrieval.choices.RetrievalMode",
        "EventLevelEnum": "training.choices.EventLevel",
        "AISystemStatusEnum": "governance.choices.AISystemStatus",
        "DatasetVersionStatusEnum": "governance.choices.DatasetVersionStatus",
        "DPIAStatusEnum": "governance.choices.DPIAStatus",
        "BaseModelStatusEnum": "training.choices.BaseModelStatus",
        "JobStatusEnum": "training.choices.JobStatus",
        "AdapterStatusEnum": "training.choices.AdapterStatus",
        "DocumentStatusEnum": "retrieval.choices.DocumentStatus",
        "IndexStateEnum": "retrieval.choices.IndexState",
        "ErasureStatusEnum": "governance.choices.ErasureStatus",
        "RejectionGroundEnum": "governance.choices.ALL_GROUNDS",
        "ErasureGroundEnum": "governance.choices.ErasureGround",
        "NameMatchDecisionEnum": "governance.choices.NameMatchDecision",
        "DeploymentStatusEnum": "governance.choices.DeploymentStatus",
        "EnvironmentEnum": "governance.choices.Environment",
        "DeclarationStatusEnum": "governance.choices.DeclarationStatus",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        "presidio-analyzer": {"level": "ERROR"},
        # WeasyPrint and fontTools log about a hundred lines per rendered PDF at INFO.
        "fontTools": {"level": "WARNING"},
        "weasyprint.progress": {"level": "WARNING"},
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# --- DPIA -----------------------------------------------------------------------------------------
DPIA_REVIEW_DAYS = env_int("DPIA_REVIEW_DAYS", 365)
DPIA_REVIEW_MAX_DAYS = env_int("DPIA_REVIEW_MAX_DAYS", 3 * 366)  # the latest next review an approval may set

# --- Training (LoRA fine-tune jobs) ---------------------------------------------------------------
# training/conf.py reads these; values stay strings and numbers as the environment gives them.
TRAINING_ARTIFACTS_ROOT = env("TRAINING_ARTIFACTS_ROOT", str(embedded.data_dir() / "artifacts"))
TRAINING_MODELS_ROOT = env("TRAINING_MODELS_ROOT", str(embedded.data_dir() / "models"))
# Base model paths must lie under one of these (":"-separated); empty allows any absolute path, which
# production refuses: there an engineer could otherwise point the platform at any directory.
TRAINING_BASE_MODEL_ROOTS = env("TRAINING_BASE_MODEL_ROOTS", "") or ""
if PRODUCTION and not TRAINING_BASE_MODEL_ROOTS.strip(os.pathsep):
    raise ImproperlyConfigured(
        "TRAINING_BASE_MODEL_ROOTS must be set when PLATFORM_ENV=production: the directories (separated "
        "by ':') that registered base models must lie under"
    )
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 3)
TRAINING_EVENT_EVERY = env_int("TRAINING_EVENT_EVERY", 10)
TRAINING_CHECKPOINT_EVERY = env_int("TRAINING_CHECKPOINT_EVERY", 50)
TRAINING_CANCEL_CHECK_S = env_float("TRAINING_CANCEL_CHECK_S", 1.0)
TRAINING_HEARTBEAT_STALE_S = env_int("TRAINING_HEARTBEAT_STALE_S", 900)
TRAINING_TASK_TIME_LIMIT = env_int("TRAINING_TASK_TIME_LIMIT", 86400)
TRAINING_EVAL_MAX_NEW_TOKENS = env_int("TRAINING_EVAL_MAX_NEW_TOKENS", 32)
TRAINING_EVAL_MAX_SAMPLES = env_int("TRAINING_EVAL_MAX_SAMPLES", 500)
TRAINING_QLORA_AVAILABLE = env("TRAINING_QLORA_AVAILABLE", "auto")
# Import torch/transformers/peft in the worker's parent before it forks (saves 10-15 s per job).
TRAINING_PRELOAD = env("TRAINING_PRELOAD", "1")
# Test-only: a directory of per-job hook files the test worker reads (sleep or die at a step); unset in
# production, where it stays empty.
TRAINING_TEST_HOOKS_DIR = env("TRAINING_TEST_HOOKS_DIR", "")

# --- Retrieval (RAG indexing and search) ----------------------------------------------------------
RETRIEVAL_MAX_DOCUMENT_BYTES = env_int("RETRIEVAL_MAX_DOCUMENT_BYTES", 10 * 1024 * 1024)
RETRIEVAL_MAX_UPLOAD_BYTES = env_int("RETRIEVAL_MAX_UPLOAD_BYTES", 256 * 1024 * 1024)
RETRIEVAL_MAX_JSON_BYTES = env_int("RETRIEVAL_MAX_JSON_BYTES", 32 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = RETRIEVAL_MAX_JSON_BYTES
RETRIEVAL_MAX_BATCH_DOCUMENTS = env_int("RETRIEVAL_MAX_BATCH_DOCUMENTS", 10_000)
RETRIEVAL_MAX_QUERY_CHARS = env_int("RETRIEVAL_MAX_QUERY_CHARS", 2000)
RETRIEVAL_DEFAULT_MIN_SCORE = env_float("RETRIEVAL_DEFAULT_MIN_SCORE", 0.2)
RETRIEVAL_EMBEDDING_DEVICE = env("RETRIEVAL_EMBEDDING_DEVICE", "cpu")
# One torch thread: on 2 busy cores a one-line query embedding took ~135 ms with two, ~17 ms with one.
RETRIEVAL_TORCH_THREADS = env_int("RETRIEVAL_TORCH_THREADS", 1)
RETRIEVAL_EMBED_BATCH = env_int("RETRIEVAL_EMBED_BATCH", 32)
# Ingestion batches in the worker: 0 = every usable core (the query path keeps RETRIEVAL_TORCH_THREADS).
RETRIEVAL_INGEST_TORCH_THREADS = env_int("RETRIEVAL_INGEST_TORCH_THREADS", 0)
RETRIEVAL_EMBED_PROGRESS_EVERY = env_int("RETRIEVAL_EMBED_PROGRESS_EVERY", 512)
RETRIEVAL_TASK_DOCUMENTS = env_int("RETRIEVAL_TASK_DOCUMENTS", 64)
RETRIEVAL_TASK_CHARS = env_int("RETRIEVAL_TASK_CHARS", 4_000_000)
RETRIEVAL_BULK_MIN_CHUNKS = env_int("RETRIEVAL_BULK_MIN_CHUNKS", 2000)
RETRIEVAL_BULK_RATIO = env_float("RETRIEVAL_BULK_RATIO", 1.0)
RETRIEVAL_MAINTENANCE_WORK_MEM = env("RETRIEVAL_MAINTENANCE_WORK_MEM", "1GB")
RETRIEVAL_MAINTENANCE_WORKERS = env_int("RETRIEVAL_MAINTENANCE_WORKERS", 2)
RETRIEVAL_HNSW_EF_SEARCH = env_int("RETRIEVAL_HNSW_EF_SEARCH", 64)
RETRIEVAL_HYBRID_CANDIDATES = env_int("RETRIEVAL_HYBRID_CANDIDATES", 40)
RETRIEVAL_RRF_K = env_int("RETRIEVAL_RRF_K", 60)
RETRIEVAL_MASK_THREADS = env_int("RETRIEVAL_MASK_THREADS", 2)
RETRIEVAL_HYBRID_LEXICAL_WEIGHT = env_float("RETRIEVAL_HYBRID_LEXICAL_WEIGHT", 1.0)
RETRIEVAL_EXACT_MAX_ROWS = env_int("RETRIEVAL_EXACT_MAX_ROWS", 10_000)
RETRIEVAL_EXACT_MAX_FRACTION = env_float("RETRIEVAL_EXACT_MAX_FRACTION", 0.1)
RETRIEVAL_PURGE_METHOD = env("RETRIEVAL_PURGE_METHOD", "reindex")
# PDF text extraction bounds (retrieval/extraction.py): a compressed bomb (a few hundred KB expanding to
# hundreds of MB, or to millions of text operators) is refused with 413 extraction_limit, not run for a
# minute. pypdf parses content operators at ~0.5 MB/s, so one page's decompressed content is capped too.
RETRIEVAL_PDF_MAX_PAGES = env_int("RETRIEVAL_PDF_MAX_PAGES", 2000)
RETRIEVAL_PDF_MAX_CHARS = env_int("RETRIEVAL_PDF_MAX_CHARS", 10_000_000)
RETRIEVAL_PDF_MAX_SECONDS = env_float("RETRIEVAL_PDF_MAX_SECONDS", 20.0)
RETRIEVAL_PDF_MAX_PAGE_CONTENT_BYTES = env_int("RETRIEVAL_PDF_MAX_PAGE_CONTENT_BYTES", 2 * 1024 * 1024)
# Bytes any one decompressed PDF stream may expand to (pypdf raises LimitReachedError past it).
RETRIEVAL_PDF_MAX_STREAM_BYTES = env_int("RETRIEVAL_PDF_MAX_STREAM_BYTES", 32 * 1024 * 1024)
