"""Settings for Services.

Everything comes from the environment (and an optional `.env` file at the
repository root) through one `env` object. With nothing set, the platform runs
on one machine on its embedded defaults: SQLite in WAL mode, a local data
root, an embedded filesystem Celery broker. Each variable below switches one
part to its production counterpart; `.env.example` lists them all.
"""

import re
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent  # Services/
REPO_DIR = BASE_DIR.parent

env = environ.Env()
environ.Env.read_env(REPO_DIR / ".env", overwrite=False)

# Runtime state of an embedded installation (SQLite file, broker folders).
VAR_DIR = Path(env.str("SERVICES_VAR_DIR", default=str(REPO_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# Production must set DJANGO_SECRET_KEY; the embedded default keeps a local
# random key in VAR_DIR so that `make run` needs no configuration.
_secret_file = VAR_DIR / "secret_key"
if "DJANGO_SECRET_KEY" in env.ENVIRON:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
else:
    if not _secret_file.exists():
        import secrets

        _secret_file.write_text(secrets.token_urlsafe(50))
        _secret_file.chmod(0o600)
    SECRET_KEY = _secret_file.read_text().strip()

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ninja",
    "axes",
    "services_app",
    "services_app.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "services_app.api.middleware.ApiErrorShapeMiddleware",
    # last, as django-axes asks: locks out a client after repeated failed logins
    "axes.middleware.AxesMiddleware",
]

# --- Login throttling (django-axes) ----------------------------------------------
# The admin login (and any session login page) locks a username coming from one address out after
# AXES_FAILURE_LIMIT failed attempts, for AXES_COOLOFF_HOURS. API keys are 256-bit random tokens:
# nothing to guess there, so the API needs no throttle of this kind.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False  # no start-up banner on every manage.py call (lockouts are still logged)
# Behind a proxy, the client address comes from X-Forwarded-For (set DJANGO_SECURE_PROXY_SSL_HEADER too).
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env.bool("DJANGO_BEHIND_PROXY", default=False) else ["REMOTE_ADDR"]
)

# --- Production hardening (all from the environment) --------------------------------
# DJANGO_SECURE=true turns on every setting below at its production value; each can still be set on
# its own. With DJANGO_SECURE=true, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and
# DJANGO_SECURE_HSTS_PRELOAD=true `manage.py check --deploy` is clean (preloading is a commitment for
# every subdomain, hence left to the operator; without it check --deploy says W021 and nothing else).
_SECURE = env.bool("DJANGO_SECURE", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=_SECURE)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000 if _SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_SECURE)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
_SECURE_COOKIES = env.bool("DJANGO_SECURE_COOKIES", default=_SECURE)  # both cookies at once
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=_SECURE_COOKIES)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=_SECURE_COOKIES)
SESSION_COOKIE_HTTPONLY = True
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The health check stays reachable over plain HTTP for load balancers.
SECURE_REDIRECT_EXEMPT = [r"^api/health$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

ROOT_URLCONF = "services_project.urls"
WSGI_APPLICATION = "services_project.wsgi.application"
ASGI_APPLICATION = "services_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# The web app: Django's session login (the API uses API keys instead).
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:jobs"
LOGOUT_REDIRECT_URL = "web:login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# SESSION_COOKIE_SECURE and CSRF_COOKIE_SECURE: see "Production hardening" above (DJANGO_SECURE_COOKIES).

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db(
        "DATABASE_URL",
        default=f"sqlite:///{VAR_DIR / 'services.sqlite3'}",
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; IMMEDIATE
    # transactions and a busy timeout turn lock contention into a short wait
    # instead of "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test.sqlite3")
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache --------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# Every key this deployment writes in Redis (the broker's queues and the cache) starts with this, so
# several deployments, benchmarks or test runs can share one Redis database without taking each other's
# jobs. Every web server and worker of one deployment must use the same prefix.
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="")
# ASCII letters, digits and . _ : - only: the broker cuts the prefix off keys it reads back by its length
# in characters (a non-ASCII prefix left its worker unable to take a job), and its broadcast channel
# matches the prefix as a Redis pattern (a * or [ matched other deployments' channels, or none).
if not re.fullmatch(r"[A-Za-z0-9._:-]{0,64}", REDIS_KEY_PREFIX):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"REDIS_KEY_PREFIX {REDIS_KEY_PREFIX!r} may hold only ASCII letters, digits and . _ : - "
        "(at most 64), e.g. services-prod:"
    )
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Uploads are streamed to disk above this size, never held whole in memory. The first handler counts
# bytes against SERVICES_MAX_UPLOAD_BYTES and aborts the upload as soon as it is over (413), before the
# rest reaches the disk; a Content-Length over the cap is refused before anything is read.
FILE_UPLOAD_HANDLERS = [
    "services_app.api.uploads.CappedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024
# Files in one multipart request; more answer 400 too_many_files.
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("SERVICES_MAX_UPLOAD_FILES", default=100)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
FILE_UPLOAD_TEMP_DIR = None
WHITENOISE_USE_FINDERS = True

# --- Storage roots ------------------------------------------------------------
_data_root = env.str("SERVICES_DATA_ROOT", default=str(REPO_DIR / "data"))
# A data root on a bucket (gs://bucket/prefix): every process keeps a local cache of it in
# SERVICES_DATA_CACHE and publishes what it writes there (services_app/storage/remote.py).
DATA_ROOT_REMOTE = _data_root.rstrip("/") if _data_root.startswith("gs://") else None
DATA_ROOT = Path(
    env.str("SERVICES_DATA_CACHE", default=str(REPO_DIR / "var" / "data-cache")) if DATA_ROOT_REMOTE else _data_root
).resolve()
MODELS_ROOT = Path(env.str("SERVICES_MODELS_ROOT", default=str(REPO_DIR / "models"))).resolve()
# gs:// buckets a user may name; anything else is refused.
GCS_ALLOWED_BUCKETS = env.list("GCS_ALLOWED_BUCKETS", default=[])
GCS_MODELS_BUCKET = env.str("GCS_MODELS_BUCKET", default="dvc_models_bucket")
MAX_UPLOAD_BYTES = env.int("SERVICES_MAX_UPLOAD_BYTES", default=5 * 1024**3)
# Hosts (names, addresses or host:port) outbound requests may reach although they resolve to a
# loopback, private, link-local or unique-local address (see services_app/outbound.py).
SERVICES_OUTBOUND_ALLOW_HOSTS = env.list("SERVICES_OUTBOUND_ALLOW_HOSTS", default=[])

# --- Jobs ---------------------------------------------------------------------
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
JOB_HEARTBEAT_SECONDS = env.float("JOB_HEARTBEAT_SECONDS", default=5.0)
# A running job whose heartbeat is older than this is considered lost.
JOB_STALE_AFTER_SECONDS = env.float("JOB_STALE_AFTER_SECONDS", default=60.0)
JOB_SWEEP_INTERVAL_SECONDS = env.float("JOB_SWEEP_INTERVAL_SECONDS", default=30.0)
JOB_DEFAULT_TIME_LIMIT_SECONDS = env.int("JOB_DEFAULT_TIME_LIMIT_SECONDS", default=6 * 3600)
# Limits per user (staff are exempt): jobs running at once (more wait in the queue, so one user cannot
# hold every worker), jobs waiting (more answer 429), and the longest time limit a job may ask for.
JOB_MAX_RUNNING_PER_USER = env.int("JOB_MAX_RUNNING_PER_USER", default=2)
JOB_MAX_QUEUED_PER_USER = env.int("JOB_MAX_QUEUED_PER_USER", default=20)
JOB_USER_MAX_TIME_LIMIT_SECONDS = env.int("JOB_USER_MAX_TIME_LIMIT_SECONDS", default=2 * 3600)
JOB_USER_LIMIT_RETRY_SECONDS = env.float("JOB_USER_LIMIT_RETRY_SECONDS", default=5.0)
# Registers the job kinds that exist only to test the job machinery (one that
# kills its own worker). Off in production; the test suite turns it on.
JOB_TEST_KINDS_ENABLED = env.bool("JOB_TEST_KINDS_ENABLED", default=False)

# --- Celery -------------------------------------------------------------------
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Longer than the longest job, so Redis never redelivers a job that is
    # still running (our own attempt counter and sweeper handle lost ones).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=JOB_DEFAULT_TIME_LIMIT_SECONDS + 3600)
    }
    if REDIS_KEY_PREFIX:
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = REDIS_KEY_PREFIX
else:
    # Embedded broker: kombu's filesystem transport, which works between
    # processes on one machine with no server. kombu polls an idle queue once a
    # second by default, and with prefetch 1 a worker went back to that poll after
    # every job: 2 jobs/s. Polling every 50 ms drains about 27 jobs/s on 2 cores
    # (benches/bench_broker.py) and costs an idle worker well under 1% of a core.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": env.float("CELERY_EMBEDDED_POLLING_INTERVAL", default=0.05),
    }
CELERY_TASK_IGNORE_RESULT = True  # the Job row, not a result backend, is the truth
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Queues this deployment serves on a GPU; empty means "no GPU worker": gpu
# kinds then go to the default queue.
CELERY_GPU_QUEUE_ENABLED = env.bool("CELERY_GPU_QUEUE_ENABLED", default=False)

# --- External services --------------------------------------------------------
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
EMBEDDINGS_PROVIDER = env.str("EMBEDDINGS_PROVIDER", default="local")
EMBEDDINGS_MODEL = env.str("EMBEDDINGS_MODEL", default="")
WANDB_MODE = env.str("WANDB_MODE", default="offline")
QDRANT_URL = env.str("QDRANT_URL", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Every `@paginate` list uses bounded limit/offset.
NINJA_PAGINATION_CLASS = "services_app.api.pagination.Pagination"
