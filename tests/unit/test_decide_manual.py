"""trigger = "manual" in the daemon's decisions: saves of a manual resource stay pending (on its row), several
become one cycle on `devstack trigger`, and a resource in auto mode beside it goes on as before."""

from __future__ import annotations

from devstack.engine import events as ev
from devstack.engine.state import Board
from devstack.engine.steps import BeginCycle, Converge, Hold
from tests.unit.conftest import Project
from tests.unit.test_decide import SMOKE, drive, first_pass, saved, smoked

MANUAL = SMOKE + '\n[resources.relay]\ntrigger = "manual"\n'


def test_saves_wait_for_the_trigger_and_become_one_cycle(project: Project) -> None:
    config = project.load(MANUAL)
    board = Board(config.project)
    first_pass(board, config)
    relay_py = (project.root / "relay" / "relay.py").resolve()
    dockerfile = (project.root / "relay" / "Dockerfile").resolve()
    assert drive(board, config, saved(relay_py)) == [Hold((("relay", frozenset({relay_py})),))]
    assert board.cycle is None and board.snapshot()[0]["pending"] == 1
    assert drive(board, config, saved(dockerfile)) == [Hold((("relay", frozenset({relay_py, dockerfile})),))]
    assert board.snapshot()[0]["pending"] == 2
    assert drive(board, config, saved(relay_py)) == []  # the same file again: nothing new to say
    steps = drive(board, config, ev.Triggered("relay"))
    assert isinstance(steps[0], BeginCycle) and steps[0].work.paths == frozenset({relay_py, dockerfile})
    assert steps[1] == Converge(triggers=("relay",), opening=(("relay", "2 files changed"),))
    assert not board.pending.paths


def test_a_trigger_with_nothing_pending_restarts(project: Project) -> None:
    config = project.load(MANUAL)
    board = Board(config.project)
    first_pass(board, config)
    assert drive(board, config, ev.Triggered("relay"))[1:] == [Converge(triggers=("relay",))]


def test_a_resource_in_auto_mode_beside_a_manual_one_goes_on(project: Project) -> None:
    project.write("sink/Dockerfile", "FROM scratch\n")
    config = project.load(MANUAL + '\n[images.sink]\ncontext = "sink"\n')
    board = Board(config.project)
    drive(board, config)
    both = ev.Converged(tags={"relay": "relay:1", "sink": "sink:1"}, resources=("relay", "sink"),
                        resource_images={"relay": "relay:1", "sink": "sink:1"}, changed=True, at="x")
    drive(board, config, both)
    drive(board, config, smoked())
    drive(board, config, ev.CycleEnded())
    relay_py, sink_file = (project.root / "relay" / "relay.py").resolve(), project.write("sink/x", "").resolve()
    steps = drive(board, config, saved(relay_py, sink_file))
    assert steps[0] == Hold((("relay", frozenset({relay_py})),))
    assert isinstance(steps[1], BeginCycle) and steps[1].work.paths == frozenset({sink_file})
    assert steps[2] == Converge(opening=(("sink", "1 file changed"),))
    assert board.pending.paths == {relay_py}  # still waiting for its trigger
