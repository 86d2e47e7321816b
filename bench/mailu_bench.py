"""The Mailu stack (stacks/mailu, offline variant) on the local swarm, each number beside a peer or floor measured in
the same run (the machine is shared and noisy: compare ratios).

    cold ci        image and offline base present, nothing deployed (volumes removed): deploy, ready, smoke
                   peer: the same for the demo stack (devstack.toml: relay and sink)
    warm ci        nothing changed since; peer: the demo's warm ci
    smtp → imap    a message sent by SMTP to front:25 until an IMAP search through front:143 (one session, logged
                   in before) finds its Message-ID; median of N (50)
                   floor: the same message put in by IMAP APPEND through front, until the same search finds it
                   (the IMAP side alone: what postfix, rspamd and dovecot's LMTP add is the difference)
    config edit    save config/postfix/main.cf with `devstack up` running → the cycle's "smoke ✓"; median of M (3)
                   floor: by hand, `docker config create` + `docker service update --config-rm/--config-add` of
                   smtp (which waits until it converged) + `devstack smoke`

Usage: python bench/mailu_bench.py [--messages N] [--edits M]. Bounded in count and time; it talks to 127.0.0.1
only (published ports), and removes what it deployed.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import docker

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import demo as demo_stack  # noqa: E402  (bench/demo.py)
from demo import Daemon  # noqa: E402  (bench/demo.py)

import stacks  # noqa: E402  (bench/stacks.py: bench/ is on sys.path, as for every script run from there)

PROJECT = "benchmailu"
DEMO_PORT = 18600  # the peer demo's relay; its sink at +25 and +80 (bench/demo.py)
RESULT = "mailu.json"
TIMEOUT_S = 900
MAILBOX = "admin@mailu.test"
PORTS = {"SMTP_PORT": 18500, "SUBMISSION_PORT": 18501, "SUBMISSIONS_PORT": 18502, "IMAP_PORT": 18503,
         "IMAPS_PORT": 18504, "HTTP_PORT": 18505, "HTTPS_PORT": 18506}
EXAMPLE_RESULTS: dict[str, Any] = {RESULT: {  # the numbers in docs/benchmarks.md, in the shape this script writes them
    "ci": {"mailu": [25.914, 0.969], "demo": [6.41, 0.782]},
    "mail": {"smtp": [0.07] * 50, "append": [0.047] * 50},
    "edit": {"devstack": [11.314, 8.447, 11.738], "floor": [13.231, 13.104, 12.965]}}}


def devstack(root: Path, env: dict[str, str], *args: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "devstack", *args], cwd=root, env=env, check=False,
                           timeout=TIMEOUT_S, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"devstack {' '.join(args)} in {root} failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return time.perf_counter() - started


def copy(tmp: Path) -> Path:
    mailu = tmp / "stacks" / "mailu"  # with ../../sink beside it, as in the repository: the stack's relayhost
    shutil.copytree(REPO / "stacks" / "mailu", mailu, ignore=shutil.ignore_patterns(".env", ".devstack"))
    shutil.copytree(REPO / "sink", tmp / "sink", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    config = mailu / "devstack.toml"
    config.write_text(config.read_text().replace('name = "mailu"', f'name = "{PROJECT}mailu"', 1))
    return mailu


def timed_ci(root: Path, env: dict[str, str]) -> tuple[float, float]:
    devstack(root, env, "down", "--volumes")
    cold = devstack(root, env, "ci", "--timeout", "800")
    return cold, devstack(root, env, "ci", "--timeout", "600")


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "bench@elsewhere.test", MAILBOX, "bench"
    mail["Message-ID"] = f"<bench-{uuid.uuid4().hex}@bench.devstack.test>"
    mail.set_content("bench\n")
    return mail


def until_found(imap: imaplib.IMAP4, message_id: str, limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        imap.select("INBOX")
        if imap.search(None, "HEADER", "Message-ID", f'"{message_id}"')[1][0]:
            return
        time.sleep(0.01)
    raise RuntimeError(f"{message_id} not in INBOX within {limit_s:.0f}s")


def mail_rounds(env: dict[str, str], password: str, rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"smtp": [], "append": []}
    imap = imaplib.IMAP4("127.0.0.1", int(env["IMAP_PORT"]), timeout=30)
    imap.login(MAILBOX, password)
    try:
        for _ in range(rounds):
            mail = message()
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", int(env["SMTP_PORT"]), timeout=30) as smtp:
                smtp.send_message(mail)
            until_found(imap, str(mail["Message-ID"]))
            times["smtp"].append(time.perf_counter() - started)
        for _ in range(rounds):
            mail = message()
            started = time.perf_counter()
            imap.append("INBOX", "", imaplib.Time2Internaldate(time.time()), mail.as_bytes())
            until_found(imap, str(mail["Message-ID"]))
            times["append"].append(time.perf_counter() - started)
        imap.select("INBOX")
        imap.store("1:*", "+FLAGS.SILENT", r"(\Deleted)")
        imap.expunge()
    finally:
        imap.logout()
    return times


def by_hand(root: Path, env: dict[str, str], n: int) -> None:
    """What a user types without devstack for the same edit: a new config, the service moved onto it, smoke."""
    client = docker.from_env()
    service = client.services.get(f"{PROJECT}mailu_smtp")
    mounted = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"]
    old = next(c["ConfigName"] for c in mounted if c["File"]["Name"] == "/conf/postfix/main.cf")
    new = f"{PROJECT}mailu_byhand_{n}_{uuid.uuid4().hex[:6]}"
    main_cf = root / "config" / "postfix" / "main.cf"
    main_cf.write_text(main_cf.read_text() + f"# by hand {n}\n")
    client.configs.create(name=new, data=main_cf.read_bytes(), labels={"dev.devstack.project": f"{PROJECT}mailu"})
    subprocess.run(["docker", "service", "update", "--quiet", "--config-rm", old, "--config-add",
                    f"source={new},target=/conf/postfix/main.cf", service.name], check=True, timeout=TIMEOUT_S,
                   capture_output=True)
    devstack(root, env, "smoke")


def config_edits(root: Path, env: dict[str, str], edits: int) -> dict[str, list[float]]:
    ours, floor = [], []
    for n in range(edits):
        started = time.perf_counter()
        by_hand(root, env, n)
        floor.append(time.perf_counter() - started)
    devstack(root, env, "ci", "--timeout", "600")  # back to the file's own config, as devstack names it
    daemon = Daemon(root, env, "--timeout", "600")
    try:
        daemon.wait_for("watching for changes", timeout=TIMEOUT_S)
        main_cf = root / "config" / "postfix" / "main.cf"
        for n in range(edits):
            mark, started = daemon.mark(), time.perf_counter()
            main_cf.write_text(main_cf.read_text() + f"# bench edit {n}\n")
            daemon.wait_for(r"smoke ✓", after=mark, timeout=TIMEOUT_S)
            ours.append(time.perf_counter() - started)
    finally:
        daemon.stop()
    return {"devstack": ours, "floor": floor}


def measure(tmp: Path, rounds: int, edits: int) -> dict[str, Any]:
    state = tmp / "state"
    env = {**os.environ, "NO_COLOR": "1", "XDG_STATE_HOME": str(state), "MAILU_VARIANT": "offline",
           "SUBNET": stacks.unused_subnet(docker.from_env()), **{name: str(port) for name, port in PORTS.items()}}
    mailu = copy(tmp)
    demo = demo_stack.copy(tmp, f"{PROJECT}demo")  # the demo: its own project name and ports
    demo_env = {**demo_stack.environment(DEMO_PORT), "XDG_STATE_HOME": str(state)}
    results: dict[str, Any] = {}
    try:
        results["ci"] = {"mailu": timed_ci(mailu, env), "demo": timed_ci(demo, demo_env)}
        devstack(demo, demo_env, "down", "--volumes", "--images")
        secrets = json.loads((state / "devstack" / f"{PROJECT}mailu" / "secrets.json").read_text())
        results["mail"] = mail_rounds(env, secrets["mailu-admin-password"], rounds)
        results["edit"] = config_edits(mailu, env, edits)
    finally:
        devstack(demo, demo_env, "down", "--volumes", "--images")
        devstack(mailu, env, "down", "--volumes", "--images")
    return results


def readme_tables(results: Path) -> str:
    data = json.loads((results / RESULT).read_text())
    smtp, append = (statistics.median(data["mail"][k]) for k in ("smtp", "append"))
    edit, floor_edit = (statistics.median(data["edit"][k]) for k in ("devstack", "floor"))
    return "\n".join([
        "| measure | Mailu stack (offline variant) | peer or floor | ratio |",
        "| --- | --- | --- | --- |",
        *stacks.ci_rows(data["ci"]["mailu"], data["ci"]["demo"], "demo stack", "image present: deploy, ready, smoke"),
        f"| SMTP in → visible by IMAP (median of {len(data['mail']['smtp'])}) | {smtp * 1000:.0f} ms | "
        f"IMAP APPEND → visible {append * 1000:.0f} ms | {smtp / append:.1f}× |",
        f"| postfix main.cf edit → smtp redeployed → smoke ✓ (median of {len(data['edit']['devstack'])}) | "
        f"{edit:.1f} s | by hand: config create + service update + smoke {floor_edit:.1f} s | "
        f"{edit / floor_edit:.2f}× |",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=50, choices=range(1, 201), metavar="N")
    parser.add_argument("--edits", type=int, default=3, choices=range(1, 11), metavar="M")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devstack-bench-mailu-") as tmp:
        results = measure(Path(tmp), args.messages, args.edits)
    return stacks.record(RESULT, results, readme_tables)


if __name__ == "__main__":
    sys.exit(main())
