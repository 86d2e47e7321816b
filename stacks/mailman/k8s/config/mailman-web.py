# Postorius and HyperKitty's Django settings: the ConfigMap mailman-web-config, mounted at /etc/mailman3/web/ and
# read by Debian's settings.py after its own defaults. The credentials come from the environment, which the pod
# fills from Secrets; none of them is written here.
import os
from urllib.parse import unquote, urlsplit

SECRET_KEY = os.environ["SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = ["*"]

MAILMAN_REST_API_URL = os.environ.get("MAILMAN_REST_API_URL", "http://mailman-core:8001")
MAILMAN_REST_API_USER = "restadmin"
MAILMAN_REST_API_PASS = os.environ["MAILMAN_REST_PASSWORD"]
MAILMAN_ARCHIVER_KEY = os.environ["HYPERKITTY_API_KEY"]
# Core reaches HyperKitty through the Service, whose address is never the core pod's own: accept any source
# (dev only; the API key still has to match).
MAILMAN_ARCHIVER_FROM = ("*",)


def _database(url: str) -> dict:
    parts = urlsplit(url)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"),
            "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "", "PORT": str(parts.port or 5432)}


DATABASES = {"default": _database(os.environ["DATABASE_URL"])}

TIME_ZONE = "UTC"
USE_TZ = True
SITE_ID = 1
EMAILNAME = "lists.devstack.test"
DEFAULT_FROM_EMAIL = "postorius@lists.devstack.test"
SERVER_EMAIL = "root@lists.devstack.test"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "exim")
EMAIL_PORT = 25
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "http"
# Served by uwsgi at the root of port 8000; static files from the folder Debian's package collected.
STATIC_URL = "/static/"
COMPRESS_OFFLINE = False
COMPRESS_ENABLED = False
POSTORIUS_TEMPLATE_BASE_URL = "http://mailman-web:8000/"

# The stack's own web code (stacks/mailman/web, in the image mailman-web under /opt/mailman-site): its templates
# come before the apps' own, its app is installed (for its template tags), and its URLs lead to Debian's. Debian's
# settings.py imports this file at its very end, while the module `settings` runs: its names are all set by then.
import settings as _debian  # noqa: E402

_SITE = "/opt/mailman-site"
INSTALLED_APPS = ("mailman_site", *_debian.INSTALLED_APPS)
TEMPLATES = [{**_debian.TEMPLATES[0], "DIRS": [f"{_SITE}/templates", *_debian.TEMPLATES[0]["DIRS"]]}]
ROOT_URLCONF = "mailman_site.urls"

# Everything to the container's output (kubectl logs), nothing to files.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django": {"handlers": ["console"], "level": "INFO"},
        "hyperkitty": {"handlers": ["console"], "level": "INFO"},
        "postorius": {"handlers": ["console"], "level": "INFO"},
    },
}

# A dev stack: accounts need no e-mail confirmation (the confirmation would only reach the sink).
ACCOUNT_EMAIL_VERIFICATION = "none"
