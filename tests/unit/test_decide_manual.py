"""trigger = "manual" in the daemon's decisions: saves of a manual resource stay pending (on its row), several
become one cycle on `devstack trigger`, and a resource in auto mode beside it goes on as before."""

from __future__ import annotations

from devstack.engine import events as ev
from devstack.engine.state import Board
from devstack.engine.steps import BeginCycle, Converge, Hold, RunLocal
from tests.unit.conftest import Project
from tests.unit.test_decide import SMOKE, converged, drive, first_pass, saved, smoked

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


def test_switching_to_manual_at_run_time_holds_saves_and_back_to_auto_runs_them(project: Project) -> None:
    """`devstack trigger-mode relay manual` (the dashboard's switch): the same as `trigger = "manual"` in the file
    until it is switched back, when the saves it held run at once, in one cycle."""
    config = project.load(SMOKE)  # relay in auto mode, as devstack.toml says by default
    board = Board(config.project)
    first_pass(board, config)
    relay_py = (project.root / "relay" / "relay.py").resolve()
    assert drive(board, config, ev.TriggerModeSet("relay", "manual")) == []
    assert board.snapshot()[0]["trigger_override"] == "manual"
    assert drive(board, config, saved(relay_py)) == [Hold((("relay", frozenset({relay_py})),))]
    steps = drive(board, config, ev.TriggerModeSet("relay", "auto"))
    assert steps[0] == Hold(())  # the row's pending count goes
    assert isinstance(steps[1], BeginCycle) and steps[1].work.paths == frozenset({relay_py})
    assert steps[2] == Converge(opening=(("relay", "1 file changed"),))


def test_an_override_of_a_manual_resource_runs_its_saves_until_it_is_reset(project: Project) -> None:
    config = project.load(MANUAL)
    board = Board(config.project, trigger_modes={"relay": "auto"})  # as .devstack/trigger-modes.json had it
    first_pass(board, config)
    relay_py = (project.root / "relay" / "relay.py").resolve()
    steps = drive(board, config, saved(relay_py))
    assert isinstance(steps[0], BeginCycle) and steps[0].work.paths == frozenset({relay_py})
    drive(board, config, converged("relay"))
    drive(board, config, smoked())
    drive(board, config, ev.CycleEnded())
    assert drive(board, config, ev.TriggerModeSet("relay", None)) == []  # reset: the file's manual again
    assert board.snapshot()[0]["trigger_override"] is None
    assert drive(board, config, saved(relay_py)) == [Hold((("relay", frozenset({relay_py})),))]


def test_a_manual_local_resource_waits_for_its_trigger(project: Project) -> None:
    config = project.load(SMOKE + '\n[[local]]\nname = "gen"\ncommand = "true"\ndeps = ["gen/*.txt"]\n'
                                  'trigger = "manual"\n')
    board = Board(config.project)
    for event in (None, ev.LocalRan(name="gen"), converged("relay"), smoked(), ev.CycleEnded()):
        drive(board, config, *(() if event is None else (event,)))
    dep = project.write("gen/input.txt", "x\n").resolve()
    assert drive(board, config, saved(dep)) == [Hold((("gen", frozenset({dep})),))]
    steps = drive(board, config, ev.Triggered("gen"))
    assert isinstance(steps[0], BeginCycle) and steps[1] == RunLocal("gen", 1)
