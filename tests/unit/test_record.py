"""`devstack up --record FILE`: every form keeps whole lines, however long, as a demo recording must show a smoke
line's timings at its end."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest

from devstack.observe import record
from devstack.observe.console import Console

LONG = ("inject (http-inject): 2 accepted, 2 delivered to the sink, " + "x" * 90
        + " · inject 12ms · delivery 15ms (0.12s)")


def _session(path: Path, tty: bool) -> None:
    console = record.recording_console(path, Console(tty=tty))
    console.event("smoke", LONG, ok=True)
    console.info("watching for changes")
    record.finish(console)


def _svg_text(svg: str) -> str:
    """The text an SVG shows, line by line (rich writes one <text> per run of one style)."""
    runs = re.findall(r'<text[^>]*y="([\d.]+)"[^>]*>([^<]*)</text>', svg)
    lines: dict[str, str] = {}
    for y, text in runs:
        lines[y] = lines.get(y, "") + html.unescape(text).replace("\xa0", " ")
    return "\n".join(lines.values())


@pytest.mark.parametrize("tty", [True, False])
def test_an_svg_recording_is_as_wide_as_its_longest_line(tmp_path: Path, tty: bool,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    _session(tmp_path / "demo.svg", tty)
    shown = _svg_text((tmp_path / "demo.svg").read_text())
    assert "delivery 15ms (0.12s)" in shown
    assert "watching for changes" in shown


def test_an_html_recording_keeps_whole_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session(tmp_path / "demo.html", True)
    assert LONG in html.unescape((tmp_path / "demo.html").read_text())


def test_a_cast_is_as_wide_as_its_longest_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _session(tmp_path / "demo.cast", True)
    header, *events = (tmp_path / "demo.cast").read_text().splitlines()
    width = json.loads(header)["width"]
    assert width >= len("smoke    ✓ " + LONG)
    assert LONG in "".join(json.loads(event)[2] for event in events)


def test_width_counts_cells_and_leaves_escapes_out() -> None:
    assert record.widest("\x1b[36mab\x1b[0m\r\nabc\n") == 3
    assert record.widest("日本") == 4
