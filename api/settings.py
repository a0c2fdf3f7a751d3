"""Django settings. Every value that changes between machines comes from the environment
(see ``.env.example``); the embedded defaults run the whole platform without any server."""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from api.config import (
    broker_from_url,
    database_from_url,
    env_bool,
    env_choice,
    env_dotted_path,
    env_email,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)
from trainer.allocator import CPU_CHUNK

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off (see .env.example)")
    SECRET_KEY = "insecure-development-key-only-for-debug"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

SHARED_FS = Path(env_str("SHARED_FS", str(BASE_DIR / "shared_fs"))).resolve()
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api.accounts",
    "api.photos",
    "api.tags",
    "api.tagging",
    "api.training",
    "api.albums",
    "api.social",
    "api.notifications",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "api.middleware.reject_nul_characters",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "api.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "api.urls"
WSGI_APPLICATION = "api.wsgi.application"

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
                "web.context_processors.unread_notifications",
            ],
        },
    },
]

DATABASES = {
    "default": database_from_url(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tagloop.sqlite3'}"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            # Redis down reads as an empty cache (see api/cache.py); the timeouts keep a Redis
            # that hangs from holding requests.
            "BACKEND": "api.cache.ForgivingRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    # A file cache is shared by the processes of `make run`, so throttling counts across them.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:feed"
LOGOUT_REDIRECT_URL = "web:feed"

# E-mail (password reset links). The console backend prints each message on the web process's
# standard output, so a site with no mail server still works; SMTP goes through the EMAIL_HOST_*.
EMAIL_BACKEND = env_dotted_path("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# A mail server that never answers would otherwise hold a reset request (and a gunicorn thread).
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_email("DEFAULT_FROM_EMAIL", "Tagloop <noreply@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request otherwise
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Uploads: limits a person hits get a readable 400, never a 500.
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 25 * 1024 * 1024, minimum=1024)
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 50_000_000, minimum=10_000)
THUMB_GRID_PX = env_int("THUMB_GRID_PX", 400, minimum=32)
THUMB_DISPLAY_PX = env_int("THUMB_DISPLAY_PX", 1600, minimum=64)
# Django refuses bodies above this before our validation runs; keep room for the form fields.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

# Files: with nginx in front (compose), the API answers X-Accel-Redirect and nginx sends bytes.
SERVE_FILES_WITH_NGINX = env_bool("SERVE_FILES_WITH_NGINX", False)

TAG_MAX_LENGTH = env_int("TAG_MAX_LENGTH", 50, minimum=2)
# Distinct people who must vouch for a tag someone other than the owner added.
TAG_CONFIRMATIONS_REQUIRED = env_int("TAG_CONFIRMATIONS_REQUIRED", 2, minimum=1)

# Auto-tagging (the tagging worker).
TAGGER_BATCH_SIZE = env_int("TAGGER_BATCH_SIZE", 16, minimum=1)
# Photos a re-tag claims at once when no upload waits and each has a stored embedding in the active
# model's space (re-scored from it: a head's work, no decode): an upload waits for one such batch.
TAGGER_RESCORE_BATCH = env_int("TAGGER_RESCORE_BATCH", 256, minimum=1)
TAGGER_MAX_SUGGESTIONS = env_int("TAGGER_MAX_SUGGESTIONS", 5, minimum=1)
TAGGER_DEVICE = env_choice("TAGGER_DEVICE", "auto", ["auto", "cpu", "cuda"])
# The backbone a new site's day-zero model stands on (trainer/backbones.py; figures in the README).
# Naming another on a running site switches it (api/tagging/backbone_switch.py): the active
# model keeps serving while workers embed the library with the new backbone, and the first head
# trained on it once TRAIN_SWITCH_COVERAGE of the tagged photos have an embedding takes over
# when the gate accepts it.
TAGGER_BACKBONE = env_choice(
    "TAGGER_BACKBONE",
    "efficientnet_lite0",
    ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"],
)
# Photos per forward pass on a CPU (a GPU takes the whole batch); see trainer/allocator.py.
TAGGER_CPU_CHUNK = env_int("TAGGER_CPU_CHUNK", CPU_CHUNK, minimum=1)
# Pool processes of a tagging worker started without --concurrency, each one tagging loop; 0
# picks: one per CPU core (at most 4) on a CPU, one on a GPU. Always one on SQLite.
TAGGER_PROCESSES = env_int("TAGGER_PROCESSES", 0, minimum=0)
# A claim older than this means its worker died; the sweep hands the photo to another.
TAGGER_STALE_CLAIM_SECONDS = env_int("TAGGER_STALE_CLAIM_SECONDS", 600, minimum=10)
TAGGER_SWEEP_SECONDS = env_int("TAGGER_SWEEP_SECONDS", 60, minimum=5)
# Photos a worker embeds with the new backbone per task while a backbone switch fills in.
TAGGER_SWITCH_BATCH = env_int("TAGGER_SWITCH_BATCH", 32, minimum=1)
TRAIN_SWITCH_COVERAGE = env_float("TRAIN_SWITCH_COVERAGE", 0.95, minimum=0, maximum=1)
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 30, minimum=1)

# The self-training loop (the trainer).
MIN_PHOTOS_PER_TAG = env_int("MIN_PHOTOS_PER_TAG", 10, minimum=1)
TRAIN_MIN_TRUST = env_float("TRAIN_MIN_TRUST", 0.3, minimum=0, maximum=1)
TRAIN_IMPLICIT_NEGATIVE_WEIGHT = env_float("TRAIN_IMPLICIT_NEGATIVE_WEIGHT", 0.5, minimum=0, maximum=1)
# Flagging an upload as a near-duplicate of the owner's earlier photo (see .env.example's figures).
NEAR_DUPLICATE_COSINE = env_float("NEAR_DUPLICATE_COSINE", 0.9, minimum=0, maximum=1)
TRAIN_NEAR_DUPLICATE_COSINE = env_float("TRAIN_NEAR_DUPLICATE_COSINE", 0.9, minimum=0, maximum=1)
# pgvector's HNSW search breadth (hnsw.ef_search) for similar photos and near-duplicates: higher
# finds more of the true nearest photos, slower (bench/bench_scale.py measures both).
VECTOR_EF_SEARCH = env_int("VECTOR_EF_SEARCH", 64, minimum=1)
# How often beat recounts tags in the background (api/tags/counts.py, and the next model's
# vocabulary in api/training/selectors.py): another person's new public tag reaches autocomplete,
# a day-zero tag voted down stops being suggested, and the help page's "labels needed" moves,
# this late. A photo made private is recounted at once.
TAG_COUNTS_SECONDS = env_int("TAG_COUNTS_SECONDS", 60, minimum=5)
# A day-zero tag people reject this many times, and this many times as often as they confirm it,
# is no longer suggested (api/tagging/suppression.py).
DAY_ZERO_SUPPRESS_REJECTIONS = env_int("DAY_ZERO_SUPPRESS_REJECTIONS", 5, minimum=1)
DAY_ZERO_SUPPRESS_RATIO = env_float("DAY_ZERO_SUPPRESS_RATIO", 3.0, minimum=1)
# Every labelled photo is validated once, in one of this many folds.
TRAIN_FOLDS = env_int("TRAIN_FOLDS", 5, minimum=2)
# The open world: photos nobody labelled, as weak negatives for every tag (0 photos: none).
TRAIN_BACKGROUND_PHOTOS = env_int("TRAIN_BACKGROUND_PHOTOS", 2000, minimum=0)
# Labelled photos one run trains on at most, rarest tags first (api/training/sampling.py): the
# head's fitting time grows with photos x tags.
TRAIN_MAX_PHOTOS = env_int("TRAIN_MAX_PHOTOS", 50000, minimum=10)
TRAIN_BACKGROUND_WEIGHT = env_float("TRAIN_BACKGROUND_WEIGHT", 0.1, minimum=0, maximum=1)
# Only background photos farther from every tag's positives than this quantile of how close the
# tag's own positives come to each other (trainer/open_world.py); 0 keeps the least like any tag.
TRAIN_BACKGROUND_QUANTILE = env_float("TRAIN_BACKGROUND_QUANTILE", 0.2, minimum=0, maximum=1)
TRAIN_GATE_TOLERANCE = env_float("TRAIN_GATE_TOLERANCE", 0.02, minimum=0, maximum=1)
TRAIN_MIN_FIRST_MAP = env_float("TRAIN_MIN_FIRST_MAP", 0.5, minimum=0, maximum=1)
# A tag with fewer validation positives than this is named as too little support, never scored.
TRAIN_GATE_MIN_SUPPORT = env_int("TRAIN_GATE_MIN_SUPPORT", 5, minimum=1)
# Bootstrap resamples behind the gate's confidence intervals (95%).
TRAIN_GATE_BOOTSTRAP = env_int("TRAIN_GATE_BOOTSTRAP", 300, minimum=50)
TRAIN_MAX_EPOCHS = env_int("TRAIN_MAX_EPOCHS", 150, minimum=1)
# Head training stops once its objective changes by less than this (relative) over an epoch; 0
# trains for TRAIN_MAX_EPOCHS.
TRAIN_TOLERANCE = env_float("TRAIN_TOLERANCE", 1e-5, minimum=0, maximum=1)
# Head training stops after this many seconds even if it has not converged (the run then says
# so); 0: no limit. Bounds a run on a large library, where convergence can take a quarter hour.
TRAIN_HEAD_SECONDS = env_float("TRAIN_HEAD_SECONDS", 180, minimum=0)
# Teacher/student: the active model's confident predictions on unlabelled photos join training
# with a capped weight (validation stays human-labelled). Off by default: on clothing10 (Lite0, 5 label
# draws) it moved test top-1 only from 0.742 to 0.758 at 10 labels per tag and 0.825 to 0.831 at 25.
TRAIN_SEMI_SUPERVISED = env_bool("TRAIN_SEMI_SUPERVISED", False)
TRAIN_PSEUDO_CONFIDENCE = env_float("TRAIN_PSEUDO_CONFIDENCE", 0.9, minimum=0.5, maximum=1)
TRAIN_PSEUDO_WEIGHT = env_float("TRAIN_PSEUDO_WEIGHT", 0.3, minimum=0, maximum=1)
# Fine-tuning the backbone's last blocks with the head (meant for a GPU; works on the CPU, slowly).
TRAINER_FINETUNE = env_bool("TRAINER_FINETUNE", False)
TRAIN_FINETUNE_EPOCHS = env_int("TRAIN_FINETUNE_EPOCHS", 8, minimum=1)
TRAIN_FINETUNE_BLOCKS = env_int("TRAIN_FINETUNE_BLOCKS", 2, minimum=0)
TRAIN_FINETUNE_BATCH = env_int("TRAIN_FINETUNE_BATCH", 32, minimum=1)
TRAIN_CHECK_MINUTES = env_int("TRAIN_CHECK_MINUTES", 60, minimum=1)
TRAIN_MIN_NEW_LABELS = env_int("TRAIN_MIN_NEW_LABELS", 50, minimum=1)
# A running run whose heartbeat is older than this died with its trainer.
TRAIN_STALE_RUN_MINUTES = env_int("TRAIN_STALE_RUN_MINUTES", 15, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.NewestFirstCursorPagination",
    "PAGE_SIZE": env_int("PAGE_SIZE", 24, minimum=1),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "uploads": env_rate("THROTTLE_UPLOADS", "120/min"),
        "login": env_rate("THROTTLE_LOGIN", "10/min"),
        "comments": env_rate("THROTTLE_COMMENTS", "30/min"),
    },
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
}
if not DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ]

SPECTACULAR_SETTINGS = {
    "TITLE": "Tagloop API",
    "DESCRIPTION": "Photo sharing with a tagger that learns from its community.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the sidecar package: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The notification digest, mailed through the e-mail settings above.
NOTIFICATION_DIGEST_HOURS = env_int("NOTIFICATION_DIGEST_HOURS", 24, minimum=0)

# Celery: the database holds the truth about work; a message only wakes a worker.
_broker = broker_from_url(REDIS_URL, var_dir=VAR_DIR)
CELERY_BROKER_URL = _broker.url
CELERY_BROKER_TRANSPORT_OPTIONS = _broker.transport_options
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_DEFAULT_EXCHANGE = "default"
CELERY_TASK_DEFAULT_ROUTING_KEY = "default"
CELERY_TASK_ROUTES = {
    # Exact names win over the patterns below: a recount must not wait for a training run.
    "api.training.tasks.refresh_vocabulary": {"queue": "default", "routing_key": "default"},
    "api.tagging.tasks.*": {"queue": "tagging", "routing_key": "tagging"},
    "api.training.tasks.*": {"queue": "training", "routing_key": "training"},
}
# One long task at a time per worker process, acknowledged only once it is done.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A tagging pool process loads its model before it reports up (seconds on a busy CPU). Celery's
# default of 4 s killed every replacement of an OOM-killed pool process, in a loop.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 120.0
# When Redis goes away a batch in progress finishes: its photos are claimed in the database, not
# in the message, and the next wake-up or sweep picks up the rest.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-tagging-claims": {
        "task": "api.tagging.tasks.sweep",
        "schedule": float(TAGGER_SWEEP_SECONDS),
    },
    # The names below are read by the staff dashboard (api.training.selectors) to say when the
    # next check is due.
    "training-schedule-check": {
        "task": "api.training.tasks.check_schedule",
        "schedule": float(TRAIN_CHECK_MINUTES * 60),
    },
    "tag-counts-refresh": {
        "task": "api.tags.tasks.refresh_counts",  # api.tags.counts.REFRESH_COUNTS
        "schedule": float(TAG_COUNTS_SECONDS),
    },
    "training-vocabulary-refresh": {
        "task": "api.training.tasks.refresh_vocabulary",  # api.tags.counts.REFRESH_VOCABULARY
        "schedule": float(TAG_COUNTS_SECONDS),
    },
    "training-stale-run-sweep": {
        "task": "api.training.tasks.sweep_runs",
        "schedule": 60.0,
    },
}
if NOTIFICATION_DIGEST_HOURS:
    CELERY_BEAT_SCHEDULE["notification-digest"] = {
        "task": "api.notifications.tasks.send_digests",  # api.notifications.digest.SEND_DIGESTS
        "schedule": float(NOTIFICATION_DIGEST_HOURS * 3600),
    }

# Behind nginx (compose) the site runs on HTTPS; these are the secure defaults there.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}
