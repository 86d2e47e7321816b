"""The dashboard, measured in Debian's chromium (driven by Playwright), each number beside a floor from the same run.

    load    the page opened (its token already a cookie) until all 7 resources of a 7-service stack show ready;
            floor: the same browser opening a one-file page from Python's http.server (its own cost of a page)
    row     relay.py saved (live update) → the relay's row shows the new cycle in the page;
            floor: the same save → the cycle's line on the terminal (the daemon's own output), for the same edit
    flood   a service printing 50,000 lines/s for 10 s, with the logs view open and following:
            input latency, a key typed in the search box until the next frame the page draws, against the same
            keys with no flood; the daemon's CPU and peak RSS over the flood, against the same flood with no page
    idle    the daemon's CPU over S seconds with one page open (the resources view, its event stream live),
            against S seconds with none

Usage: python bench/dashboard_bench.py [--loads N] [--edits N] [--keys N] [--idle-seconds S].
Bounded in count and time; everything on 127.0.0.1. Needs /usr/bin/chromium (`make browser`).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import demo
from playwright.sync_api import Browser, Page, sync_playwright

import stacks

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
EXTRA = ("mta-a", "mta-b", "mta-c", "tsa-a", "tsa-b")  # five more services: seven in all
FLOOD_RATE, FLOOD_SECONDS = 50_000, 10
# Prints RATE lines/s for SECONDS (paced every 1,000 lines) a few seconds after it starts, then sleeps: every
# restart (devstack trigger) is one flood.
SPAM = """import os, sys, time
rate, seconds = int(os.environ["RATE"]), int(os.environ["SECONDS"])
time.sleep(4)
start = time.time()
for i in range(rate * seconds):
    if i % 1000 == 0 and (ahead := start + i / rate - time.time()) > 0:
        time.sleep(ahead)
    sys.stdout.write(f"line {i} of the flood\\n")
sys.stdout.flush()
time.sleep(3600)
"""
# In the page: for each key pressed in the search box, the time from the key's event to the next frame drawn.
KEY_PROBE = """() => {
  window.keyLatencies = [];
  document.getElementById('log-search').addEventListener('keydown', (event) => {
    const pressed = event.timeStamp;
    requestAnimationFrame(() => setTimeout(() => window.keyLatencies.push(performance.now() - pressed), 0));
  });
}"""


def seven_services(tmp: Path) -> tuple[Path, dict[str, str]]:
    """The demo (relay, sink, live update on) and five more services of the sink's image: seven resources."""
    root = demo.copy(tmp, "benchdash")
    stack = root / "stacks" / "demo" / "stack.yml"
    extra = "".join(f"  {name}:\n    image: sink\n    deploy:\n      endpoint_mode: dnsrr\n" for name in EXTRA)
    stack.write_text(stack.read_text().replace("\nsecrets:\n", f"\n{extra}\nsecrets:\n", 1))
    return root, demo.environment(18700)


def spam_stack(tmp: Path, env: dict[str, str]) -> Path:
    root = tmp / "benchflood"
    (root / "spam").mkdir(parents=True)
    (root / "spam" / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY spam.py /spam.py\n"
                                              'CMD ["python3", "-u", "/spam.py"]\n')
    (root / "spam" / "spam.py").write_text(SPAM)
    (root / "stack.yml").write_text("services:\n  spam:\n    image: spam\n    environment:\n"
                                    f"      RATE: '{FLOOD_RATE}'\n      SECONDS: '{FLOOD_SECONDS}'\n")
    (root / "devstack.toml").write_text(
        '[project]\nname = "benchflood"\n[images.spam]\ncontext = "spam"\n'
        'args = { BASE = "${DEVSTACK_BASE_IMAGE:-python:3.11-slim-bookworm}" }\n[swarm]\nstack_file = "stack.yml"\n')
    return root


@contextlib.contextmanager
def up(root: Path, env: dict[str, str]) -> Iterator[tuple[demo.Daemon, str]]:
    """`devstack up` with its dashboard on a free port, past its first pass; its address; down afterwards."""
    daemon = demo.Daemon(root, env, "--web-port", "0")
    try:
        daemon.wait_for(r"dashboard: http://")
        url = next(found.group(0) for _, text in daemon.lines
                   if (found := re.search(r"http://127\.0\.0\.1\S+", text)))
        daemon.wait_for("watching for changes")
        yield daemon, url
    finally:
        daemon.stop()
        subprocess.run([sys.executable, "-m", "devstack", "down", "--images"], cwd=root, env=env,
                       capture_output=True, check=False, timeout=demo.WAIT_S)


def opened(browser: Browser, url: str) -> Page:
    # The page forbids evaluating strings as script (its CSP); the measuring probes below are such strings, so the
    # benchmark's browser is told to let them run. The page itself runs as it always does.
    page = browser.new_context(viewport={"width": 1400, "height": 820}, bypass_csp=True).new_page()
    page.goto(url)  # trades the token for the cookie
    page.wait_for_selector("tr[data-resource]")
    return page


def timed(action: Callable[[], None]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_load(browser: Browser, url: str, loads: int) -> list[float]:
    page = opened(browser, url)
    base = url.split("?", 1)[0]  # http://127.0.0.1:PORT/
    ready = f"document.querySelectorAll('td.runtime.s-ready').length === {len(EXTRA) + 2}"

    def load() -> None:
        page.goto(base)
        page.wait_for_function(ready, polling="raf")

    times = []
    for _ in range(loads):
        page.goto("about:blank")  # a whole load each time, not a move within the page
        times.append(timed(load))
    page.context.close()
    return times


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[int]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def measure_floor_load(browser: Browser, tmp: Path, loads: int) -> list[float]:
    folder = tmp / "static"
    folder.mkdir()
    (folder / "index.html").write_text("<!doctype html><title>floor</title><p id=done>a page</p>\n")
    page = browser.new_context().new_page()
    with static_server(folder) as port:

        def load() -> None:
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_selector("#done")

        times = []
        for _ in range(loads):
            page.goto("about:blank")
            times.append(timed(load))
    page.context.close()
    return times


def measure_row(browser: Browser, daemon: demo.Daemon, url: str, root: Path, edits: int) -> dict[str, list[float]]:
    """Per edit: seconds from the save to the terminal's cycle line, and to the row's new cycle in the page."""
    page = opened(browser, url)
    terminal, browser_s = [], []
    for n in range(edits):
        cell = page.locator("tr[data-resource='relay'] td.cycle")
        before = int(cell.get_attribute("data-cycle") or 0)
        mark = daemon.mark()
        saved = time.perf_counter()
        demo.edit(root / "stacks" / "demo" / "relay" / "relay.py", 100 + n)
        page.wait_for_function(f"document.querySelector(\"tr[data-resource='relay'] td.cycle\").dataset.cycle "
                               f"== '{before + 1}'", polling="raf", timeout=demo.WAIT_S * 1000)
        browser_s.append(time.perf_counter() - saved)
        terminal.append(daemon.wait_for(r"relay .*synced .*smoke ✓", mark) - saved)
    page.context.close()
    return {"terminal_s": terminal, "browser_s": browser_s}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def measure_idle(browser: Browser | None, daemon: demo.Daemon, url: str, seconds: float) -> float:
    """The daemon's CPU, % of one CPU, over `seconds` (with one page open on the resources view, or none)."""
    page = opened(browser, url) if browser else None
    pid = daemon.process.pid
    before, started = cpu_seconds(pid), time.perf_counter()
    time.sleep(seconds)
    used = 100 * (cpu_seconds(pid) - before) / (time.perf_counter() - started)
    if page:
        page.context.close()
    return used


def keys(page: Page, count: int, gap_s: float) -> list[float]:
    """`count` keys typed in the search box, `gap_s` apart (a character, then its erasing): each one's latency."""
    page.evaluate("window.keyLatencies = []")
    page.focus("#log-search")
    for n in range(count):
        page.keyboard.press("x" if n % 2 == 0 else "Backspace")
        time.sleep(gap_s)
    page.wait_for_function(f"window.keyLatencies.length >= {count}", timeout=60_000)
    return [float(v) for v in page.evaluate("window.keyLatencies")]


def wait_line(daemon: demo.Daemon, pattern: str, after: int) -> None:
    """demo.Daemon.wait_for, reading each line once: a flood is half a million of them."""
    regex, deadline, seen = re.compile(pattern), time.monotonic() + demo.WAIT_S, after
    while time.monotonic() < deadline:
        lines = daemon.lines[seen:]
        if any(regex.search(text) for _, text in lines):
            return
        seen += len(lines)
        time.sleep(0.05)
    raise TimeoutError(f"no {pattern!r}")


def flood(daemon: demo.Daemon, root: Path, env: dict[str, str], page: Page | None, count: int) -> dict[str, Any]:
    """Restart the spam service (a new flood), measure the daemon over it and, with a page, the keys' latency."""
    pid, mark = daemon.process.pid, daemon.mark()
    subprocess.run([sys.executable, "-m", "devstack", "trigger", "spam"], cwd=root, env=env, check=True,
                   capture_output=True, timeout=60)
    wait_line(daemon, r"spam\s+│ line 0 of the flood", mark)  # the restarted service has begun its flood
    before, peak, started = cpu_seconds(pid), rss_mib(pid), time.perf_counter()
    latencies = keys(page, count, FLOOD_SECONDS / count) if page else []
    while time.perf_counter() - started < FLOOD_SECONDS:
        peak = max(peak, rss_mib(pid))
        time.sleep(0.25)
    used = 100 * (cpu_seconds(pid) - before) / (time.perf_counter() - started)
    wait_line(daemon, r"spam\s+│ line 499999 of the flood", mark)  # all of it came through before the next one
    skipped = int(page.evaluate("page.skipped")) if page else 0
    return {"cpu_percent": used, "rss_mib": peak, "key_ms": latencies, "skipped": skipped}


def measure_flood(browser: Browser, tmp: Path, env: dict[str, str], count: int) -> dict[str, Any]:
    root = spam_stack(tmp, env)
    with up(root, env) as (daemon, url):
        wait_line(daemon, r"spam\s+│ line 499999 of the flood", 0)  # the first pass's own flood, before measuring
        quiet_page = opened(browser, url)
        quiet_page.goto(url.split("?", 1)[0] + "#logs")
        quiet_page.evaluate(KEY_PROBE)
        quiet = keys(quiet_page, count, 0.25)
        without = flood(daemon, root, env, None, count)
        with_page = flood(daemon, root, env, quiet_page, count)
        quiet_page.context.close()
    return {"quiet_key_ms": quiet, "without": without, "with": with_page}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10, choices=range(1, 51), metavar="N")
    parser.add_argument("--edits", type=int, default=5, choices=range(1, 21), metavar="N")
    parser.add_argument("--keys", type=int, default=20, choices=range(2, 101), metavar="N")
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="devstack-dash-") as tmp_name, sync_playwright() as driver:
        tmp = Path(tmp_name)
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        root, env = seven_services(tmp)
        with up(root, env) as (daemon, url):
            results["idle_without"] = measure_idle(None, daemon, url, args.idle_seconds)
            results["idle_with"] = measure_idle(browser, daemon, url, args.idle_seconds)
            results["load_s"] = measure_load(browser, url, args.loads)
            results["row"] = measure_row(browser, daemon, url, root, args.edits)
        results["floor_load_s"] = measure_floor_load(browser, tmp, args.loads)
        results["flood"] = measure_flood(browser, tmp, env, args.keys)
        browser.close()
    return stacks.record("dashboard.json", results, readme_tables)


def median(values: list[float]) -> float:
    return statistics.median(values)


# Results in the shape main() writes them (the numbers in docs/benchmarks.md), for tests/unit/test_bench.py.
EXAMPLE_RESULTS = {"dashboard.json": {
    "load_s": [0.21], "floor_load_s": [0.05], "row": {"terminal_s": [0.41], "browser_s": [0.52]},
    "idle_without": 0.3, "idle_with": 0.9,
    "flood": {"quiet_key_ms": [16.0], "without": {"cpu_percent": 60.0, "rss_mib": 70.0, "key_ms": [], "skipped": 0},
              "with": {"cpu_percent": 75.0, "rss_mib": 74.0, "key_ms": [25.0], "skipped": 300000}}}}


def readme_tables(results: Path) -> str:
    """The table of docs/benchmarks.md, from the last results/dashboard.json."""
    data = json.loads((results / "dashboard.json").read_text())
    load, floor = median(data["load_s"]), median(data["floor_load_s"])
    terminal, shown = median(data["row"]["terminal_s"]), median(data["row"]["browser_s"])
    quiet, busy = median(data["flood"]["quiet_key_ms"]), median(data["flood"]["with"]["key_ms"])
    worst = max(data["flood"]["with"]["key_ms"])
    without, with_page = data["flood"]["without"], data["flood"]["with"]
    idle_without, idle_with = data["idle_without"], data["idle_with"]
    return "\n".join([
        "| measure | dashboard | floor (same run) | ratio |", "| --- | --- | --- | --- |",
        f"| page load, 7 resources shown ready (median of {len(data['load_s'])}) | {load * 1000:.0f} ms | "
        f"a one-file page {floor * 1000:.0f} ms | {load / floor:.2f}× |",
        f"| relay.py saved → the row's new cycle (median of {len(data['row']['browser_s'])}) | {shown:.2f} s | "
        f"the terminal's cycle line {terminal:.2f} s | {shown / terminal:.2f}× |",
        f"| key → next frame during a 50,000 lines/s flood (median of {len(data['flood']['with']['key_ms'])}; "
        f"worst {worst:.0f} ms) | {busy:.0f} ms | no flood {quiet:.0f} ms | {busy / quiet:.2f}× |",
        f"| daemon CPU during the flood | {with_page['cpu_percent']:.0f} % | no page {without['cpu_percent']:.0f} % "
        f"| {with_page['cpu_percent'] / without['cpu_percent']:.2f}× |",
        f"| daemon peak RSS during the flood | {with_page['rss_mib']:.0f} MiB | no page {without['rss_mib']:.0f} MiB "
        f"| {with_page['rss_mib'] / without['rss_mib']:.2f}× |",
        f"| daemon CPU idle, one page open | {idle_with:.2f} % | no page {idle_without:.2f} % "
        f"| {idle_with / idle_without:.2f}× |"])


if __name__ == "__main__":
    sys.exit(main())
