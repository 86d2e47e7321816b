"""The site's own pages."""

from importlib.metadata import version

from django.conf import settings
from django.http import HttpRequest, JsonResponse


def about(request: HttpRequest) -> JsonResponse:
    """Which list server this is and what it runs, for scripts and for a quick look."""
    return JsonResponse({
        "list_domain": settings.EMAILNAME,
        "versions": {name: version(name) for name in ("postorius", "hyperkitty", "django-mailman3", "django")},
    })
