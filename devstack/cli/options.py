"""Options several commands share, declared once."""

from __future__ import annotations

import click

timeout = click.option("--timeout", type=click.FloatRange(min=1), default=600.0, show_default=True, metavar="SECONDS",
                       help="Give up when build, deploy and readiness take longer than this.")
