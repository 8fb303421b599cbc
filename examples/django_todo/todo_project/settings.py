"""The original bemi-django README's todo app. The database comes from libpq's environment
(PGHOST, PGPORT, PGUSER, PGPASSWORD) and TODO_DATABASE (default django_todo)."""
import os

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "todo",
    "bemi",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "bemi.BemiMiddleware",
]

BEMI_CONTEXT_FUNCTION = "todo_project.utils.get_bemi_context"

ROOT_URLCONF = "todo_project.urls"
ASGI_APPLICATION = "todo_project.asgi.application"
WSGI_APPLICATION = "todo_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("TODO_DATABASE", "django_todo"),
        # Empty: libpq takes them from PGHOST, PGPORT, PGUSER, PGPASSWORD.
        "HOST": "", "PORT": "", "USER": "", "PASSWORD": "",
        # Behind PgBouncer in transaction pooling mode (TODO_PGBOUNCER=1).
        "DISABLE_SERVER_SIDE_CURSORS": os.environ.get("TODO_PGBOUNCER") == "1",
    }
}

LOGGING = {
    "version": 1,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"bemi": {"handlers": ["console"], "level": "WARNING"}},
}
