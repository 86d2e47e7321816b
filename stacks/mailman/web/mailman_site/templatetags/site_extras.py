"""Template tags of the site: `{% load site_extras %}`."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def dev_notice() -> str:
    """Said on the list index (templates/postorius/index.html): this is no production server."""
    return f"A development stack: mail to the lists of {settings.EMAILNAME} ends at devstack's sink, never in a mailbox."
