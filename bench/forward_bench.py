"""Port forwards on the real test cluster (`make test-cluster`, context devstack-test): devstack's own forward (SPDY
streams in one websocket per pod, kept open by the daemon) against `kubectl port-forward` (the cluster's kubectl:
the same protocol, one tunnel for its whole life) to the same sink pod, in the same run, alternating so that load
on the machine falls on both alike.

    session   connect, read the SMTP banner, QUIT, read 221: one new forwarded connection each; median of N
    bulk      one SMTP transaction carrying a 16 MiB message (DATA, dot-stuffed), to the sink's 250; median of M
    phantom   the SMTP connections the sink counted (its /stats) over devstack's sessions, against the sessions
              made: a forward that connected to the pod on its own (a websocket per connection dials the pod at
              the upgrade) would show more

Goals (issue 22): a new connection ≤ 1.5× kubectl's, 16 MiB ≤ 1.2×, no phantom connection.
Usage: python bench/forward_bench.py [--sessions N] [--bulk M]. Bounded in count and time; 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import demo  # bench/demo.py, beside this script
import k8s_loop_bench as k8s
import machine

REPO = Path(__file__).resolve().parents[1]
RESULT = "forward.json"
BULK_BYTES = 16 * 1024 * 1024
TIMEOUT_S = 60.0


def smtp_session(port: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as conn, conn.makefile("rb") as lines:
        assert lines.readline().startswith(b"220"), "no banner"
        conn.sendall(b"QUIT\r\n")
        assert lines.readline().startswith(b"221"), "no 221"
    return time.perf_counter() - started


def smtp_bulk(port: int) -> float:
    """Seconds to send a BULK_BYTES message and have the sink's 250 for it."""
    body = (b"x" * 998 + b"\r\n") * (BULK_BYTES // 1000)
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as conn, conn.makefile("rb") as lines:
        lines.readline()
        for command in (b"EHLO bench\r\n", b"MAIL FROM:<bench@example.test>\r\n", b"RCPT TO:<sink@example.test>\r\n",
                        b"DATA\r\n"):
            conn.sendall(command)
            while lines.readline()[3:4] == b"-":
                pass  # EHLO's continuation lines
        conn.sendall(b"Subject: bulk\r\n\r\n" + body + b".\r\n")
        reply = lines.readline()
        assert reply.startswith(b"250"), reply
        conn.sendall(b"QUIT\r\n")
    return time.perf_counter() - started


def accepted(http_port: int) -> int:
    """The SMTP connections the sink has accepted, from its /stats (through devstack's forward of its HTTP port)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats", timeout=TIMEOUT_S) as response:
        return int(json.loads(response.read())["connections"])


def kubectl_forward(name: str, env: dict[str, str], local: int) -> subprocess.Popen[str]:
    forward = subprocess.Popen(["kubectl", f"--kubeconfig={k8s.KUBECONFIG}", f"--context={k8s.CONTEXT}", "-n", name,
                                "port-forward", "svc/sink", f"{local}:2525"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert forward.stdout is not None
    forward.stdout.readline()  # "Forwarding from 127.0.0.1:…" once it listens
    return forward


def measure(ports: dict[str, int], http_port: int, sessions: int, bulk: int) -> dict[str, list[float] | int]:
    results: dict[str, list[float] | int] = {f"{way}_{what}": [] for way in ports for what in ("session_s", "bulk_s")}
    smtp_session(ports["devstack"])  # each way's tunnel opened before the timing starts, as a daemon keeps it
    smtp_session(ports["kubectl"])
    before, made = accepted(http_port), 0
    for _ in range(sessions):
        for way, port in ports.items():
            results[f"{way}_session_s"].append(smtp_session(port))  # type: ignore[union-attr]
        made += 1  # devstack's: kubectl's go to the same sink and are counted too
    results["sessions_made"] = 2 * made
    results["sessions_counted"] = accepted(http_port) - before
    for _ in range(bulk):
        for way, port in ports.items():
            results[f"{way}_bulk_s"].append(smtp_bulk(port))  # type: ignore[union-attr]
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100, choices=range(1, 501), metavar="N")
    parser.add_argument("--bulk", type=int, default=9, choices=range(1, 21), metavar="M")
    args = parser.parse_args()
    if not k8s.KUBECONFIG.is_file():
        print(f"no test cluster: run `make test-cluster` first ({k8s.KUBECONFIG} is missing)", file=sys.stderr)
        return 1
    run = machine.facts(k8s.KUBECONFIG)
    with tempfile.TemporaryDirectory(prefix="devstack-forward-") as tmp_name:
        name = "benchforward"
        root, env = k8s.copy_demo(Path(tmp_name), name, live=False)
        try:
            with demo.watching(root, env, k8s.OPTIONS, ("--no-web",)):
                kubectl_port = k8s.free_port()
                forward = kubectl_forward(name, env, kubectl_port)
                try:
                    ports = {"devstack": int(env["SINK_SMTP_PORT"]), "kubectl": kubectl_port}
                    results = measure(ports, int(env["SINK_HTTP_PORT"]), args.sessions, args.bulk)
                finally:
                    forward.terminate()
                    forward.wait(timeout=10)
        finally:
            k8s.down(root, env)
    out = REPO / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / RESULT).write_text(json.dumps({**results, "machine": machine.finished(run)}, indent=2))
    print(readme_tables(out))
    return 0


def readme_tables(results: Path) -> str:
    data = json.loads((results / RESULT).read_text())

    def row(what: str, key: str, scale: float, unit: str, goal: str) -> str:
        ours, peer = statistics.median(data[f"devstack_{key}"]), statistics.median(data[f"kubectl_{key}"])
        return f"| {what} | {ours * scale:.1f} {unit} | {peer * scale:.1f} {unit} | {ours / peer:.2f}× | {goal} |"

    return "\n".join([
        *machine.rows(data["machine"]), "",
        "| port forward to the sink pod (test cluster) | devstack | kubectl port-forward | ratio | goal |",
        "| --- | --- | --- | --- | --- |",
        row(f"new connection: banner + QUIT (median of {len(data['devstack_session_s'])})", "session_s", 1000, "ms",
            "≤ 1.5×"),
        row(f"16 MiB message to 250 (median of {len(data['devstack_bulk_s'])})", "bulk_s", 1, "s", "≤ 1.2×"),
        f"| SMTP connections the pod counted / the clients made | {data['sessions_counted']} / "
        f"{data['sessions_made']} | | | equal |",
    ])


if __name__ == "__main__":
    sys.exit(main())
