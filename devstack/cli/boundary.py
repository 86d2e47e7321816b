"""The CLI's one error boundary: every known error becomes one clear message and an exit code.

    DevstackError → its message, exit 1 (2 for config and usage errors)
    click usage errors → click's message, exit 2
    Ctrl-C → exit 130
    anything else → a bug: a crash report with version and platform is written, exit 3
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

import click

from devstack import __version__
from devstack.config.secret_store import redact
from devstack.errors import DevstackError

EXIT_INTERRUPTED = 130
EXIT_CRASH = 3


def run(command: click.Command, args: list[str] | None = None) -> int:
    try:
        result = command.main(args=args, prog_name="devstack", standalone_mode=False)
    except DevstackError as err:
        _print_error(str(err))
        return err.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except (KeyboardInterrupt, click.exceptions.Abort):
        _print_error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as err:  # the boundary exists to catch what nobody else did
        return _crash(err)
    return result if isinstance(result, int) else 0


def _print_error(message: str) -> None:
    click.echo(click.style("error: ", fg="red", bold=True) + redact(message), err=True)


def _crash(err: Exception) -> int:
    report = Path(tempfile.gettempdir()) / f"devstack-crash-{time.strftime('%Y%m%d-%H%M%S')}.log"
    report.write_text(redact(
        f"devstack {__version__} on Python {platform.python_version()}, {platform.platform()}\n"
        f"command: {' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(err))), encoding="utf-8")
    _print_error(f"devstack crashed ({type(err).__name__}: {err}). This is a bug; please report it with {report}")
    return EXIT_CRASH
