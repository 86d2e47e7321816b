"""The daemon's live view on a terminal: a table of resources, as a person sees it."""

from __future__ import annotations

import io

from rich.console import Console as RichConsole

from devstack.engine.events import Building, Converged, CycleEnded, FilesChanged, Planned, Smoked, StepStarted
from devstack.engine.state import Board
from devstack.engine.steps import BeginCycle, Converge, Smoke, Work
from devstack.observe import view
from devstack.observe.console import Console
from devstack.smoke.result import Result


def rendered(board: Board) -> str:
    out = io.StringIO()
    RichConsole(file=out, width=140, color_system=None).print(view.table(board.snapshot(), board.error))
    return out.getvalue()


def test_the_table_shows_each_resources_states_and_its_last_error() -> None:
    board = Board("demo")
    resources, images = ("relay", "sink"), {"relay": "relay:1a", "sink": "sink:2b"}
    failure = "image 'relay' failed to build at Step 4/8 : RUN false\n  | more"
    for event in [StepStarted(BeginCycle(Work(first=True)), at=0), StepStarted(Converge(), at=0),
                  Converged(resources=resources, resource_images=images, tags={"relay": "relay:1a", "sink": "sink:2b"},
                            at="2026-12-07T00:00:00+00:00"),
                  StepStarted(Smoke(), at=0), Smoked(results=(Result("sink-smtp", "smtp", True, 0.1, "ok"),),
                                                     about=("sink",)),
                  CycleEnded(), FilesChanged(frozenset()), StepStarted(BeginCycle(Work(triggers=("relay",))), at=1),
                  StepStarted(Converge(), at=1), Planned(resources, {"relay": "relay:9f", "sink": "sink:2b"},
                                                         {"relay": "relay:9f", "sink": "sink:2b"}),
                  Building(("relay",)), Converged(error=failure)]:
        board.apply(event)
    text = rendered(board)
    for column in view.COLUMNS:
        assert column in text
    relay = next(line for line in text.splitlines() if line.startswith("│relay "))
    assert "error" in relay and "failed to build at Step 4/8" in relay
    sink = next(line for line in text.splitlines() if line.startswith("│sink "))
    assert "ok" in sink and "yes" in sink and "✓" in sink
    assert text.rstrip().endswith("RUN false")  # the caption: the first line of the board's error


def test_off_a_terminal_no_table_is_drawn() -> None:
    out = io.StringIO()
    console = Console(out, tty=False)
    with console.live(lambda: view.table([], "")):
        console.log_line("relay", "hello")
    assert "resource" not in out.getvalue() and out.getvalue().endswith("relay    │ hello\n")
