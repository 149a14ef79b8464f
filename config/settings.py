"""Holdfast settings, read from the environment (see README, "Configuration").

Every value has a development default so that a fresh clone runs with SQLite, local files and
inline jobs; production sets the variables the README lists.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from core.regions import parse_storage_regions

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Public (it is in this file): signs sessions, messages and password-reset links in development
# only. Without DEBUG the app refuses to start without a key of its own, and `check --deploy`
# refuses this one and weak ones (accounts/checks.py).
DEVELOPMENT_SECRET_KEY = "dev-insecure-holdfast-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Without DEBUG, Holdfast does not run on the public development key: "
            "set SECRET_KEY in the environment to 50 or more random characters, e.g. "
            "export SECRET_KEY=\"$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\" "
            "(keep it secret and the same on every web and worker process), or set DEBUG=true for development."
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "var")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "guardian",
    "django_rq",
    "axes",
    "core",
    "csp",
    "accounts",
    "interactions",
    "artifacts",
    "policies",
    "workspace",
    "evidence",
    "ingestion",
    "exports",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.csp.PathExceptionsCSPMiddleware",
    "accounts.middleware.TenantPagesPrivateMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a sign-in refused by the lockout into the login page with its message.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.context_processors.tenant_navigation",
            ],
            # The product's one way of showing times and dates, on every page without {% load %}.
            "builtins": ["core.templatetags.holdfast"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'holdfast.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Development: the web server, an RQ worker and the scheduler share the file. WAL lets readers
    # and one writer work side by side; IMMEDIATE transactions take the write lock when they begin
    # (and wait up to the busy timeout for it) instead of failing with "database is locked" when a
    # reading transaction later tries to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A kept connection is checked before a request reuses it (a restarted server costs one error-free
# reconnect, not a failed request).
DATABASES["default"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_MAX_AGE"] != 0
if env.bool("DB_POOL", default=False) and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # psycopg's connection pool, per process (Django closes a request's connection into it).
    # Django refuses a pool together with kept connections: DB_CONN_MAX_AGE must stay 0.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=4),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user name and address before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"


def _at_least_one(name, default):
    """A whole number of at least 1 from the environment, or an error naming the variable."""
    raw = env.str(name, default=str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1 (got {raw!r}).")
    return int(raw)


# --- Sign-in throttling (django-axes; see accounts/throttling.py) ---------------------------------
# A user name is locked out *from one address* after LOGIN_FAILURE_LIMIT failed sign-ins, for
# LOGIN_COOLOFF_MINUTES after the failure that locked it; the same name from another address, and
# other names from the same address, are unaffected. Attempts during a lockout neither count nor
# extend it; a successful sign-in forgets the failures. Support staff unlock in the admin.
LOGIN_FAILURE_LIMIT = _at_least_one("LOGIN_FAILURE_LIMIT", 5)
LOGIN_COOLOFF_MINUTES = _at_least_one("LOGIN_COOLOFF_MINUTES", 15)
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The address the audit trail records (BEHIND_PROXY: the proxy's last X-Forwarded-For hop).
AXES_CLIENT_IP_CALLABLE = "accounts.actors.client_address"
AXES_LOCKOUT_CALLABLE = "accounts.throttling.lockout_response"
AXES_ENABLE_ADMIN = False  # accounts/admin.py registers the attempts with an audited unlock
AXES_VERBOSE = False

# django-guardian: grants live on the tenant (direct-FK models in accounts); no anonymous user.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `collectstatic` writes (whitenoise serves it): outside the checkout when that is read-only.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Email (password reset links) -------------------------------------------------------------
# Django's SMTP backend with these settings; in development (DEBUG) without EMAIL_HOST, mails are
# printed on the console instead. Without DEBUG and EMAIL_HOST, the SMTP server on localhost:25.
EMAIL_HOST = env.str("EMAIL_HOST", default="")
if EMAIL_HOST or not DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = EMAIL_HOST or "localhost"
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# A mail server that does not answer must not hold a web worker (the reset page answers anyway).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Holdfast <noreply@localhost>")

# --- Storage: two named storages, "active" and "archive" -------------------------------------
# File system under DATA_DIR by default; S3 (or any S3-compatible server) when S3_BUCKET is set.
S3_BUCKET = env.str("S3_BUCKET", default="")
S3_ARCHIVE_BUCKET = env.str("S3_ARCHIVE_BUCKET", default="")
S3_ARCHIVE_STORAGE_CLASS = env.str("S3_ARCHIVE_STORAGE_CLASS", default="")
# Export bundles (exports/): a bucket of their own, or (empty) the prefix "exports/" of the active bucket.
S3_EXPORTS_BUCKET = env.str("S3_EXPORTS_BUCKET", default="")
S3_ENDPOINT_URL = env.str("S3_ENDPOINT_URL", default="") or None
S3_REGION = env.str("S3_REGION", default="us-east-1")
S3_ACCESS_KEY_ID = env.str("S3_ACCESS_KEY_ID", default="") or None
S3_SECRET_ACCESS_KEY = env.str("S3_SECRET_ACCESS_KEY", default="") or None
# The buckets have S3 Object Lock enabled (both: archived content is held too): locked artifacts also
# carry an S3 legal hold. /healthz and the start-up check verify it (artifacts/checks.py).
S3_OBJECT_LOCK = env.bool("S3_OBJECT_LOCK", default=False)
# S3 has no batch call for legal holds: one PutObjectLegalHold per object, this many at once.
S3_HOLD_CONCURRENCY = _at_least_one("S3_HOLD_CONCURRENCY", 16)


def _s3_storage(bucket, location="", storage_class=""):
    options = {
        "bucket_name": bucket,
        "location": location,
        "region_name": S3_REGION,
        "endpoint_url": S3_ENDPOINT_URL,
        "access_key": S3_ACCESS_KEY_ID,
        "secret_key": S3_SECRET_ACCESS_KEY,
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": True,  # keys are unguessable and never reused
    }
    if storage_class:
        options["object_parameters"] = {"StorageClass": storage_class}
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}


if S3_BUCKET:
    ACTIVE_STORAGE = _s3_storage(S3_BUCKET)
    # Without a separate archive bucket, archive objects live under "archive/" in the same bucket.
    ARCHIVE_STORAGE = _s3_storage(
        S3_ARCHIVE_BUCKET or S3_BUCKET,
        location="" if S3_ARCHIVE_BUCKET else "archive",
        storage_class=S3_ARCHIVE_STORAGE_CLASS,
    )
    EXPORTS_STORAGE = _s3_storage(S3_EXPORTS_BUCKET or S3_BUCKET, location="" if S3_EXPORTS_BUCKET else "exports")
else:
    ACTIVE_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "storage" / "active")},
    }
    ARCHIVE_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # A sweep killed after copying re-copies the same key on its next run.
        "OPTIONS": {"location": str(DATA_DIR / "storage" / "archive"), "allow_overwrite": True},
    }
    EXPORTS_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "storage" / "exports")},
    }

STORAGES = {
    "default": ACTIVE_STORAGE,
    "active": ACTIVE_STORAGE,
    "archive": ARCHIVE_STORAGE,
    "exports": EXPORTS_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Data residency: storage regions (core/regions.py) --------------------------------------------
# JSON mapping a region name to its endpoint and buckets; every tenant is in one region and its content
# stays in that region's buckets. Empty: one region, "default", the STORAGES above. The optional keys
# (endpoint_url, region_name, access_key_id, secret_access_key, archive_storage_class) default to S3_*.
STORAGE_REGIONS = parse_storage_regions(
    env.str("STORAGE_REGIONS", default=""),
    defaults={
        "endpoint_url": S3_ENDPOINT_URL,
        "region_name": S3_REGION,
        "access_key_id": S3_ACCESS_KEY_ID,
        "secret_access_key": S3_SECRET_ACCESS_KEY,
        "archive_storage_class": S3_ARCHIVE_STORAGE_CLASS,
    },
)

# --- Export bundles (exports/) ---------------------------------------------------------------
# Most interactions one export may select (the list's filters, a selection, a request, the API, the command).
EXPORT_MAX_INTERACTIONS = _at_least_one("EXPORT_MAX_INTERACTIONS", 10000)
# Size of each multipart part an export bundle is uploaded in to S3 (at least S3's 5 MiB): the bundle's
# only buffer, so an export's memory stays flat whatever its size.
EXPORT_PART_BYTES = max(env.int("EXPORT_PART_BYTES", default=8 * 1024 * 1024), 5 * 1024 * 1024)
# How many times the hourly schedule makes a daily archive whose export failed (the first run included).
EXPORT_SCHEDULE_ATTEMPTS = _at_least_one("EXPORT_SCHEDULE_ATTEMPTS", 3)
# Whether a customer's bucket may be on a loopback, private or link-local address (an S3 endpoint inside
# this network). Off: such endpoints are refused when saved and when an archive is pushed, so tenants cannot
# make the workers call internal services.
EXPORT_PUSH_PRIVATE_ENDPOINTS = env.bool("EXPORT_PUSH_PRIVATE_ENDPOINTS", default=False)

# --- Audit trail evidence (accounts/checkpoints.py) --------------------------------------------
# The Ed25519 private key that signs audit checkpoints: a PEM file's path, or the PEM itself. Never
# in the database. Without it and with DEBUG, a development key is generated under DATA_DIR.
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="", multiline=True)
# Retired public keys (PEM text or a file's path) whose older checkpoints still verify.
AUDIT_PREVIOUS_PUBLIC_KEYS = env.str("AUDIT_PREVIOUS_PUBLIC_KEYS", default="", multiline=True)
# Where a copy of each checkpoint is written too: a STORAGES alias, or s3://bucket/prefix (S3_* credentials;
# a bucket with Object Lock default retention keeps them beyond the reach of the database). Empty: none.
AUDIT_CHECKPOINT_STORAGE = env.str("AUDIT_CHECKPOINT_STORAGE", default="")

# --- Secrets at rest (ingestion credentials) -----------------------------------------------------
# Fernet keys (comma-separated, newest first) that encrypt integration secrets in the database (Twilio
# auth tokens, recording private keys, webhook secrets): the first encrypts, every one decrypts, so a
# key rotates by putting a new one first, running `manage.py twilio_flex rotate-secrets`, then dropping
# the old one. Make one with `python3 -c 'from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())'`. Empty: with DEBUG a development key derived from SECRET_KEY,
# without DEBUG saving or using a connection fails saying so.
HOLDFAST_SECRET_KEYS = env.list("HOLDFAST_SECRET_KEYS", default=[])

# --- Twilio Flex ingestion (ingestion/) -----------------------------------------------------------
# Empty: Twilio's own domains. Set: every Twilio REST domain used (api, taskrouter, conversations) is
# reached at this one URL with the domain's own paths (tests and staging point it at a local server).
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
# At most this many recording downloads at once per Twilio account (all workers together).
TWILIO_MEDIA_CONCURRENCY = env.int("TWILIO_MEDIA_CONCURRENCY", default=4)
# 429 / 5xx answers: retried this many times, with exponential backoff from TWILIO_BACKOFF_SECONDS
# (with jitter, at most TWILIO_BACKOFF_MAX_SECONDS), or after Twilio's Retry-After when it sends one.
TWILIO_MAX_RETRIES = env.int("TWILIO_MAX_RETRIES", default=5)
TWILIO_BACKOFF_SECONDS = env.float("TWILIO_BACKOFF_SECONDS", default=1.0)
TWILIO_BACKOFF_MAX_SECONDS = env.float("TWILIO_BACKOFF_MAX_SECONDS", default=60.0)
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=30.0)
# Every enabled connection is ingested this often (seconds) by the schedule.
TWILIO_INGEST_INTERVAL = env.int("TWILIO_INGEST_INTERVAL", default=300)
# Contact-status webhooks: attempts before a delivery is given up (backoff 1 min, 2, 4 ... up to 1 h).
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# --- Background jobs ------------------------------------------------------------------------
# With REDIS_URL set, jobs go to RQ workers (`manage.py rqworker default`); without it they run
# inline in the web process after the transaction commits (development only; logged at start).
REDIS_URL = env.str("REDIS_URL", default="")
JOBS_INLINE = not REDIS_URL
# The RQ queue jobs go to (workers: `manage.py rqworker <name>`); tests use a queue of their own.
RQ_QUEUE = env.str("RQ_QUEUE", default="default")
# Seconds without a heartbeat after which an In Progress job counts as lost where the database has
# no advisory locks (SQLite); PostgreSQL knows exactly (the worker's session lock dies with it).
JOB_HEARTBEAT_TIMEOUT = env.int("JOB_HEARTBEAT_TIMEOUT", default=600)
RQ_QUEUES = {
    RQ_QUEUE: {
        "URL": REDIS_URL or "redis://127.0.0.1:6379/0",
        "DEFAULT_TIMEOUT": env.int("RQ_DEFAULT_TIMEOUT", default=1800),
    },
}
RQ_SHOW_ADMIN_LINK = True
MANAGEMENT_REQUEST_BATCH_ARTIFACTS = env.int("MANAGEMENT_REQUEST_BATCH_ARTIFACTS", default=5000)
# The retention sweep (policies/sweep.py): artifacts per delete batch, per archive batch (each
# archived artifact is copied and verified, so these batches are smaller), the tenant-local hour
# from which the day's scheduled run is due, and how often a failed scheduled run is resumed.
LIFECYCLE_SWEEP_BATCH = env.int("LIFECYCLE_SWEEP_BATCH", default=5000)
LIFECYCLE_ARCHIVE_BATCH = env.int("LIFECYCLE_ARCHIVE_BATCH", default=100)
LIFECYCLE_SWEEP_HOUR = env.int("LIFECYCLE_SWEEP_HOUR", default=2)
LIFECYCLE_SWEEP_ATTEMPTS = env.int("LIFECYCLE_SWEEP_ATTEMPTS", default=3)

# --- Security (production values come from the environment; see README) ---------------------
# Behind a TLS-terminating reverse proxy: trust its X-Forwarded-Proto, and take the caller's address
# (recorded in the audit trail) from the last hop of X-Forwarded-For.
BEHIND_PROXY = env.bool("BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every response: nothing inline (no <script> bodies, no
# on...= handlers, no style= attributes; behaviour lives in static/js, looks in static/css), nothing
# from another origin. A response that already carries the header keeps it: content downloads send
# their own, stricter sandbox policy (artifacts/views.py). Django's admin needs no exception.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "media-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}
# Per path prefix, directives that replace the policy's there (config/csp.py). django-rq's admin
# pages (support staff only) carry inline <style> blocks: styles only are relaxed there. Their one
# inline script is not allowed: templates/django_rq/ drops it (it was dead code on Django 5).
CONTENT_SECURITY_POLICY_PATH_EXCEPTIONS = {
    "/admin/django-rq/": {"style-src": [SELF, UNSAFE_INLINE]},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"refusals": {"()": "config.logging.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["refusals"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # Once, through the root handler (Django's own DEBUG console handler would print it twice).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # django-axes logs every sign-in at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
        # twilio-python logs every request and its headers at INFO (never the Authorization header):
        # too much for the log; failures are logged by the ingestion itself.
        "twilio.http_client": {"level": "WARNING"},
    },
}


# --- Cache (rate limits of the API; shared by every web process when Redis is configured) ----------
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "holdfast"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST API (/api/v1/) ------------------------------------------------------------------------------
# Per API client and per tenant, e.g. "600/min"; a 429 with Retry-After means nothing was done.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="600/min")
API_TENANT_RATE_LIMIT = env.str("API_TENANT_RATE_LIMIT", default="2400/min")
# Seconds a delete-batch call waits for its request before answering 202 with the request's URL.
API_BATCH_WAIT = env.float("API_BATCH_WAIT", default=5.0)
# Seconds a signed recording download URL stays valid.
API_SIGNED_URL_SECONDS = env.int("API_SIGNED_URL_SECONDS", default=900)
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
RFC9700_GATES = (
    "IMPLICIT_GRANT",
    "PASSWORD_GRANT",
    "PKCE_METHOD",
    "ACCESS_TOKEN_TRANSPORT",
    "AUTHZ_RESPONSE_ISS",
    "TOKEN_STORAGE",
    "REFRESH_TOKEN",
    "REDIRECT_URI_SCHEME",
    "REDIRECT_URI_MATCHING",
    "PKCE_REQUIRED",
)
OAUTH2_PROVIDER = {
    "SCOPES_BACKEND_CLASS": "api.scopes.ClientScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("API_TOKEN_SECONDS", default=3600),
    # Only client credentials are used (applications are created as such); the rest follows the
    # OAuth 2.0 Security BCP (RFC 9700): tokens stored hashed, never accepted in query strings ...
    "PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    "ALLOW_URI_WILDCARDS": False,
    **{f"COMPLIANT_BCP_RFC9700_{gate}": True for gate in RFC9700_GATES},
}
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.ClientAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.HasScopes"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Holdfast API",
    "DESCRIPTION": "Interaction content, holds, Artifacts Management Requests and the audit trail of one tenant. "
    "OAuth2 client credentials at /api/oauth/token/; each operation names the scope it needs. Errors are "
    "RFC 9457 problem details (application/problem+json).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Errors as problem+json on every operation, contract names of path parameters (api/schema_extensions.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema_extensions.problem_responses",
    ],
}
