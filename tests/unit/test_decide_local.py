"""[[local]] resources in the daemon's decisions: run on the first pass (before the deploy, or after it when they
depend on a resource of the deploy), again when a file of their deps is saved (no converge for that alone), and a
failure ends the cycle as a failed build does."""

from __future__ import annotations

from devstack.engine import events as ev
from devstack.engine.state import Board
from devstack.engine.steps import BeginCycle, Converge, EndCycle, FollowLogs, RunLocal, Smoke, Work
from tests.unit.conftest import Project
from tests.unit.test_decide import SMOKE, converged, drive, saved, smoked

LOCAL = SMOKE + """
[[local]]
name = "gen"
command = "true"
deps = ["gen/*.txt"]

[[local]]
name = "after"
command = "true"
depends_on = ["relay"]
"""


def test_first_pass_runs_them_around_the_deploy(project: Project) -> None:
    config = project.load(LOCAL)
    board = Board(config.project)
    assert drive(board, config) == [BeginCycle(Work(first=True)), RunLocal("gen")]
    assert drive(board, config, ev.LocalRan(name="gen", seconds=0.1)) == [Converge(announce=True)]
    assert drive(board, config, converged("relay")) == [FollowLogs(("relay",)), RunLocal("after")]
    assert drive(board, config, ev.LocalRan(name="after", seconds=0.1)) == [Smoke(announce=True)]
    drive(board, config, smoked())
    drive(board, config, ev.CycleEnded())
    rows = {r["name"]: r for r in board.snapshot()}
    assert (rows["gen"]["build"], rows["gen"]["ready"]) == ("ok", True)


def test_a_saved_dependency_reruns_it_alone_and_a_failure_ends_the_cycle(project: Project) -> None:
    config = project.load(LOCAL)
    board = Board(config.project)
    for event in (None, ev.LocalRan(name="gen"), converged("relay"), ev.LocalRan(name="after"), smoked(),
                  ev.CycleEnded()):
        drive(board, config, *(() if event is None else (event,)))
    dep = project.write("gen/input.txt", "x\n")
    steps = drive(board, config, saved(dep))
    assert isinstance(steps[0], BeginCycle) and steps[1] == RunLocal("gen", 1)
    end = drive(board, config, ev.LocalRan(error="local resource gen: `true` exited 1", name="gen"))
    assert isinstance(end[0], EndCycle) and not end[0].ok  # no converge, no smoke
    assert end[0].lines == (("gen", "1 file changed → failed"),)
    drive(board, config, ev.CycleEnded(error="the cycle failed"))
    row = {r["name"]: r for r in board.snapshot()}["gen"]
    assert (row["build"], row["ready"], row["last_error"]) == ("error", False, "local resource gen: `true` exited 1")
    trigger = drive(board, config, ev.Triggered("gen"))
    assert trigger[1:] == [RunLocal("gen")]  # a trigger of a local resource runs it, with no converge
