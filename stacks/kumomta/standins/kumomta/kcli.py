"""kcli stand-in (offline variant): `kcli [--endpoint URL] queue-summary`, as KumoMTA's client answers it, for what
the kumod stand-in holds: the messages still in its spool (not yet delivered to the sink), by queue, which is the
recipient's domain as kumod's default queue name has it. The real kcli asks kumod's metrics over HTTP; the stand-in
has no metrics, so this reads the spool folder the stand-in writes (kumod.py's Spool)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

SPOOL = Path(os.environ.get("KUMOMTA_STANDIN_SPOOL", "/var/spool/kumomta")) / "standin"


def queue_summary() -> str:
    queues: Counter[str] = Counter()
    for path in sorted(SPOOL.glob("*.json")):
        try:
            recipient = json.loads(path.read_text(encoding="utf-8"))["recipient"]
        except (OSError, ValueError, KeyError):
            continue  # being written or delivered right now
        queues[recipient.rpartition("@")[2].lower()] += 1
    lines = ["kcli stand-in (offline variant): the kumod stand-in's spooled messages, by scheduled queue",
             f"{'SCHEDULED QUEUE':<40} {'COUNT':>8}"]
    lines += [f"{queue:<40} {count:>8}" for queue, count in sorted(queues.items())]
    if not queues:
        lines.append("(no message waiting: every one was delivered to the sink)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="kcli", description="kcli stand-in (offline variant)")
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000")
    parser.add_argument("command", choices=["queue-summary"])
    parser.parse_args(argv)
    print(queue_summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
