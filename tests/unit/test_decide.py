"""The daemon's decisions without asyncio, an engine or a clock: events applied to the board (its one writer),
then `decide()`, as the daemon's loop does; the steps it returns are what the daemon would run. What a user sees
follows from them: the cycle lines, the retries, `devstack status`'s rows and states."""

from __future__ import annotations

from pathlib import Path

from devstack.config.model import Config
from devstack.engine import events as ev
from devstack.engine.decide import decide
from devstack.engine.state import Board
from devstack.engine.steps import (
    ArmRetry,
    BeginCycle,
    Converge,
    EndCycle,
    FollowLogs,
    Ignore,
    LiveUpdate,
    Reload,
    Smoke,
    Step,
    Work,
)
from devstack.providers.base import ResourceStatus
from devstack.smoke.result import Result
from tests.unit.conftest import MINIMAL, Project

SMOKE = MINIMAL + """
[[smoke]]
name = "web"
type = "http"
resource = "relay"
url = "http://127.0.0.1:8000/"
"""
SYNC = SMOKE + """
[images.relay.live_update]
sync = [{ local = "relay/relay.py", remote = "/app/relay.py" }]
restart = ["true"]
"""
AT = "2026-12-07T00:00:00+00:00"


def drive(board: Board, config: Config, *events: ev.Event) -> list[Step]:
    """Apply `events`, then start what decide() returns, as the loop does: a step that only changes the board (a
    cycle's beginning, ignored files) is followed at once by the next decision."""
    for event in events:
        board.apply(event)
    steps = decide(board, config, events)
    taken: list[Step] = []
    while steps:
        for step in steps:
            board.apply(ev.StepStarted(step, at=0.0))
        taken += steps
        steps = decide(board, config, ())
    return taken


def converged(*resources: str, built: tuple[str, ...] = (), tag: str = "relay:1") -> ev.Converged:
    return ev.Converged(built=dict.fromkeys(built, 1.5), tags={"relay": tag}, resources=resources,
                        resource_images=dict.fromkeys(resources, tag), changed=True, seconds=2.0, at=AT)


def smoked(ok: bool = True) -> ev.Smoked:
    result = Result("web", "http", ok, 0.1, "200", expected="200", got="" if ok else "503")
    return ev.Smoked(results=(result,), about=("relay",), seconds=0.1, error="" if ok else "1 of 1 smoke tests failed")


def first_pass(board: Board, config: Config) -> None:
    assert drive(board, config) == [BeginCycle(Work(first=True)), Converge(announce=True)]
    assert drive(board, config, converged("relay")) == [FollowLogs(("relay",)), Smoke(announce=True)]
    end = drive(board, config, smoked())
    assert isinstance(end[0], EndCycle) and end[0].first
    assert drive(board, config, ev.CycleEnded()) == []
    assert board.phase == "watching"


def saved(*paths: Path) -> ev.FilesChanged:
    return ev.FilesChanged(frozenset(path.resolve() for path in paths))


def test_the_first_pass_converges_smokes_and_says_no_cycle_line(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    relay = board.get("relay")
    assert relay.ready and relay.build == "ok" and relay.deploy == "ok" and relay.smoke == "ok"
    assert relay.image == "relay:1" and relay.updated_at == AT


def test_one_step_at_a_time_and_saves_meanwhile_make_one_next_cycle(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    relay_py, dockerfile = project.root / "relay" / "relay.py", project.root / "relay" / "Dockerfile"
    steps = drive(board, config, saved(relay_py))
    assert isinstance(steps[0], BeginCycle)
    assert steps[1] == Converge(opening=(("relay", "1 file changed"),))
    assert drive(board, config, saved(dockerfile)) == []  # the converge runs: the save waits
    assert drive(board, config, saved(relay_py)) == []
    assert drive(board, config, converged("relay", built=("relay",), tag="relay:2")) == [FollowLogs(("relay",)),
                                                                                         Smoke()]
    end = drive(board, config, smoked())
    line = "1 file changed → built 1.5s → updated 2.0s → smoke ✓ 0.1s"
    assert end == [EndCycle(started=0.0, lines=(("relay", line),), ok=True, first=False, retry_in=None, said=True,
                            breakdown=(("smoke", 0.1), ("smoke:web", 0.1)))]  # the steps' own seconds, for up -v
    following = drive(board, config, ev.CycleEnded())
    assert isinstance(following[0], BeginCycle)  # both saves, batched: one cycle, each file once
    assert following[1] == Converge(opening=(("relay", "2 files changed"),))


def test_synced_files_take_the_live_update_and_no_converge(project: Project) -> None:
    config = project.load(SYNC)
    board = Board(config.project)
    first_pass(board, config)
    relay_py = (project.root / "relay" / "relay.py").resolve()
    assert drive(board, config, saved(relay_py))[1:] == [LiveUpdate("relay", (relay_py,))]
    assert drive(board, config, ev.LiveUpdated(image="relay", files=1, containers=1, seconds=0.2)) == [Smoke()]
    assert board.get("relay").build == "live"
    end = drive(board, config, smoked())
    assert isinstance(end[0], EndCycle)
    assert end[0].lines == (("relay", "1 file changed → synced to 1 container(s) 0.2s → smoke ✓ 0.1s"),)


def test_a_config_that_does_not_reload_ends_the_cycle_and_says_why_on_the_board(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    assert drive(board, config, saved(config.file))[1:] == [Reload()]
    problem = "devstack.toml: images.relay.contxt: unknown key (did you mean 'context'?)"
    end = drive(board, config, ev.Reloaded(error=problem))
    assert end == [EndCycle(started=0.0, lines=(), ok=True, first=False, retry_in=None, said=False)]
    assert board.error == problem
    assert "demo" not in board.resources


def test_an_outside_failure_is_retried_with_backoff_a_failure_in_the_files_waits(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    drive(board, config)
    away = "cannot reach the Docker engine at unix:///var/run/docker.sock"
    end = drive(board, config, ev.Converged(error=away, temporary=True))
    assert isinstance(end[0], EndCycle) and end[0].retry_in == 1.0 and not end[0].ok
    assert drive(board, config, ev.CycleEnded(error="failed", temporary=True, retry_in=1.0)) == [ArmRetry(1.0, 1)]
    assert drive(board, config, ev.RetryDue(1))[1:] == [Converge()]
    assert board.cycle is not None and board.cycle.lines == {"demo": ["retry"]}
    end = drive(board, config, ev.Converged(error=away, temporary=True))
    assert isinstance(end[0], EndCycle) and end[0].retry_in == 2.0
    assert drive(board, config, ev.CycleEnded(error="failed", temporary=True, retry_in=2.0)) == [ArmRetry(2.0, 2)]
    assert drive(board, config, ev.RetryDue(1)) == []  # the first timer's, stale: no second retry
    drive(board, config, ev.RetryDue(2))
    end = drive(board, config, ev.Converged(error="stack.yml: services.web.image: expected a string"))
    assert isinstance(end[0], EndCycle) and end[0].retry_in is None
    assert drive(board, config, ev.CycleEnded(error="failed")) == []  # waits for an edit
    assert board.failures == 0


def test_rows_are_resources_never_the_project_or_an_image(project: Project) -> None:
    config = project.load(SYNC)
    board = Board(config.project)
    drive(board, config)
    board.apply(ev.Planned(("web", "worker"), {"web": "relay:1", "worker": "relay:1"}, {"relay": "relay:1"}))
    board.apply(ev.Building(("relay",)))
    assert board.get("web").build == "building" and board.get("worker").build == "building"
    board.apply(ev.Converged(error="image 'relay' failed to build at Step 2/3 : RUN false\n  | more"))
    assert set(board.resources) == {"web", "worker"}
    assert board.get("web").build == "error" and board.get("web").last_error.endswith("RUN false")
    assert board.error.startswith("image 'relay' failed to build")
    drive(board, config, ev.CycleEnded(error="failed"))
    drive(board, config, ev.Triggered("web"))
    board.apply(ev.Planned(("web", "worker"), {"web": "relay:1", "worker": "relay:1"}, {"relay": "relay:1"}))
    board.apply(ev.Deploying(("web", "worker")))
    assert board.get("worker").deploy == "deploying"
    drive(board, config, ev.Converged(tags={"relay": "relay:1"}, resources=("web", "worker"),
                                      resource_images={"web": "relay:1", "worker": "relay:1"}, at=AT))
    drive(board, config, smoked(), ev.CycleEnded())
    assert not board.error  # the failure stayed on the board until this cycle succeeded
    relay_py = (project.root / "relay" / "relay.py").resolve()
    drive(board, config, saved(relay_py))
    drive(board, config, ev.LiveUpdated(image="relay", files=1, containers=2, seconds=0.3))
    assert set(board.resources) == {"web", "worker"}  # the image's name is no row
    assert board.get("web").build == "live" and board.get("worker").build == "live"


def test_a_trigger_converges_and_a_save_that_calls_for_nothing_is_dropped(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    readme = project.write("README.md", "notes\n")
    assert drive(board, config, saved(readme)) == [Ignore(frozenset({readme.resolve()}))]
    assert not board.pending and board.cycle is None
    assert drive(board, config, ev.Triggered("relay"))[1:] == [Converge(triggers=("relay",))]


def test_the_engine_going_and_coming_back(project: Project) -> None:
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    assert drive(board, config, ev.EngineAway("cannot reach the Docker engine")) == []
    assert not board.get("relay").ready and "the engine went away" in board.error
    steps = drive(board, config, ev.Observed((ResourceStatus("relay", True, 1, 1, "relay:1", AT),)), ev.EngineBack())
    assert not board.error and board.get("relay").ready
    assert steps[1:] == [Converge()]
    assert board.cycle is not None and board.cycle.lines == {"demo": ["the engine is back"]}


def test_asked_for_smoke_tests_run_alone_and_are_kept_as_a_run(project: Project) -> None:
    """The dashboard's button: a cycle of the smoke tests alone, no converge; the run is kept with its reason."""
    config = project.load(SMOKE)
    board = Board(config.project)
    first_pass(board, config)
    steps = drive(board, config, ev.SmokeAsked())
    assert isinstance(steps[0], BeginCycle) and steps[0].work.smoke
    assert steps[1:] == [Smoke()]
    assert not board.pending
    end = drive(board, config, smoked(ok=False))
    assert isinstance(end[0], EndCycle)
    assert end[0].lines == (("demo", "smoke tests asked for → smoke ✗ web"),)
    drive(board, config, ev.CycleEnded(error="the cycle failed", seconds=0.2))
    assert [(run.id, run.reason, run.ok) for run in board.smoke_runs] == [(1, "first deploy", True),
                                                                          (2, "asked for", False)]
    assert board.get("relay").smoke == "failed" and board.error == "1 of 1 smoke tests failed"


def test_each_row_keeps_its_latest_cycle_numbered_and_an_images_lines_go_to_the_rows_running_it(
        project: Project) -> None:
    config = project.load(SYNC)
    board = Board(config.project)
    first_pass(board, config)
    assert (board.cycles["relay"].n, board.cycles["relay"].steps) == (1, ("deployed 2.0s", "smoke ✓ 0.1s"))
    relay_py = (project.root / "relay" / "relay.py").resolve()
    drive(board, config, saved(relay_py))
    drive(board, config, ev.LiveUpdated(image="relay", files=1, containers=1, seconds=0.2))
    drive(board, config, smoked())
    drive(board, config, ev.CycleEnded(seconds=0.4))
    cycle = board.cycles["relay"]
    assert (cycle.n, cycle.ok, cycle.seconds) == (2, True, 0.4)
    assert cycle.steps == ("1 file changed", "synced to 1 container(s) 0.2s", "smoke ✓ 0.1s")
    # The image's lines went to the row that runs it; the project's own cycle is still the first pass's.
    assert set(board.cycles) == {"relay", "demo"} and board.cycles["demo"].n == 1
