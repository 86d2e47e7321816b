"""The command line: `devstack sink ARGS` and `python3 -m devstack_sink ARGS` both call main(ARGS).

Every flag has an environment fallback (SINK_*), so that a container is configured without a command.
A flag wins over its variable. Bad input: one line naming the flag or variable, exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from typing import NoReturn

from devstack_sink import faults, loops, service
from devstack_sink.options import (
    DEFAULT_CAPTURE_BYTES,
    DEFAULT_HTTP,
    DEFAULT_LISTEN,
    DEFAULT_MAX_SIZE,
    OptionError,
    SinkOptions,
    parse_address,
    parse_count,
    parse_workers,
)
from devstack_sink.workers import StartError

DEFAULT_WORKERS = "auto"
MAX_CAPTURE = 10_000
MAX_CAPTURE_BYTES = 2**32

EPILOG = """\
fault rules (--fault, repeatable; or SINK_FAULTS with rules separated by ";"):
  [STAGE:]PATTERN:ACTION[,delay=SECONDS][,p=PROBABILITY][,text=REPLY TEXT]
    STAGE    rcpt (default), mail (matches the sender) or data (any recipient; the
             reply to the final dot)
    PATTERN  address glob, case-insensitive: *@tempfail.test, bob@*; a bare domain
             means all its addresses; * means every address
    ACTION   a reply code: 4xx tempfail, 5xx permfail, 421 replies and closes;
             drop closes without a reply; delay=SECONDS alone answers as usual, late
    p=       apply with this probability (0..1, default 1); text= must come last
  Rules are tried in order; the first that matches and wins its roll applies.
  examples:  *@tempfail.test:451   bounce.test:550,text=5.1.1 No such user
             *@slow.test:delay=5   mail:*@blocked.test:554   *@flaky.test:421,p=0.1

environment: SINK_LISTEN, SINK_HTTP, SINK_WORKERS, SINK_FAULTS, SINK_CAPTURE,
SINK_CAPTURE_BYTES, SINK_MAX_SIZE, SINK_HOSTNAME (a flag wins over its variable)

HTTP: GET /stats /metrics /captured /captured/ID /captured/ID/raw /faults /healthz,
POST /reset, PUT and DELETE /faults
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the usage and a message over several lines; we want one line.
        if message.startswith("unrecognized arguments"):
            message += " (expected the flags listed by --help)"
        raise OptionError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="devstack sink",
        description="A null-sink SMTP server: accepts and discards mail, counts it, injects faults on request.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--listen", metavar="HOST:PORT", help=f"SMTP address (default {DEFAULT_LISTEN}; port 0: any free port)")
    add("--http", metavar="HOST:PORT", help=f"HTTP API address (default {DEFAULT_HTTP})")
    add("--workers", metavar="N", help="SMTP worker processes on the port; auto = one per CPU, at most 4 (default)")
    add("--fault", metavar="RULE", action="append", help="a fault rule, see below (repeatable)")
    add("--capture", metavar="N", help="keep the last N messages for GET /captured (default 0: off)")
    add("--capture-bytes", metavar="BYTES",
        help=f"what the kept messages may hold in all; the oldest go first (default {DEFAULT_CAPTURE_BYTES})")
    add("--max-size", metavar="BYTES", help=f"largest message accepted, 0 = no limit (default {DEFAULT_MAX_SIZE})")
    add("--hostname", metavar="NAME", help="name in the greeting and EHLO reply (default devstack-sink)")
    return parser


def _pick(flag_value: str | None, flag: str, env: Mapping[str, str], var: str, default: str) -> tuple[str, str]:
    """The value to use and the name to blame if it is wrong."""
    if flag_value is not None:
        return flag_value, flag
    if env.get(var, "").strip():
        return env[var], var
    return default, flag


def _rules(flags: list[str] | None, env: Mapping[str, str]) -> tuple[faults.Rule, ...]:
    sources = [("--fault", text) for text in flags] if flags else [("SINK_FAULTS", env.get("SINK_FAULTS", ""))]
    rules: list[faults.Rule] = []
    for name, text in sources:
        try:
            rules += faults.parse_rules(text)
        except faults.RuleError as error:
            raise OptionError(f"{name}: {error}") from None
    return tuple(rules)


def parse_options(argv: list[str], env: Mapping[str, str]) -> SinkOptions:
    args = build_parser().parse_args(argv)
    listen = parse_address(*_pick(args.listen, "--listen", env, "SINK_LISTEN", DEFAULT_LISTEN))
    http = parse_address(*_pick(args.http, "--http", env, "SINK_HTTP", DEFAULT_HTTP))
    workers = parse_workers(*_pick(args.workers, "--workers", env, "SINK_WORKERS", DEFAULT_WORKERS))
    capture = parse_count(*_pick(args.capture, "--capture", env, "SINK_CAPTURE", "0"), low=0, high=MAX_CAPTURE)
    capture_bytes = parse_count(*_pick(args.capture_bytes, "--capture-bytes", env, "SINK_CAPTURE_BYTES",
                                       str(DEFAULT_CAPTURE_BYTES)), low=workers, high=MAX_CAPTURE_BYTES)
    max_size_text, max_size_name = _pick(args.max_size, "--max-size", env, "SINK_MAX_SIZE", str(DEFAULT_MAX_SIZE))
    max_size = parse_count(max_size_text, max_size_name, low=0, high=2**40)
    hostname = _pick(args.hostname, "--hostname", env, "SINK_HOSTNAME", "devstack-sink")[0].strip()
    if not hostname or not hostname.isprintable() or " " in hostname:
        raise OptionError(f"--hostname: expected a host name without spaces, got {hostname!r}")
    return SinkOptions(listen, http, workers, _rules(args.fault, env), capture, capture_bytes, max_size, hostname)


def _announce(banner: str) -> None:
    print(banner, flush=True)


def main(argv: list[str]) -> int:
    try:
        options = parse_options(argv, os.environ)
    except OptionError as error:
        print(f"devstack sink: {error}", file=sys.stderr)
        return 2
    except SystemExit as done:  # --help
        return int(done.code or 0)
    logging.basicConfig(level=logging.INFO, format="devstack-sink: %(message)s", stream=sys.stderr)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command at INFO
    try:
        return loops.run(service.serve(options, _announce))
    except StartError as error:
        print(f"devstack sink: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place
        return 0
