"""`devstack sink`: run the null-sink SMTP server on this machine (the same server as the demo's container)."""

from __future__ import annotations

import click


@click.command("sink", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                         "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(args: tuple[str, ...]) -> int:
    """Run the null-sink SMTP server (`devstack sink --help` for its options)."""
    # The sink parses its own flags: the container runs the very same parser.
    from devstack_sink.cli import main

    return main(list(args))
