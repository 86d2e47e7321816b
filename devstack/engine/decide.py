"""What to do next: one pure function of the board, the config and the events just applied.

    steps = decide(board, config, events)

It changes nothing and waits for nothing (it reads the project's .dockerignore files to classify saved paths,
nothing more), so it is tested without asyncio, an engine or a clock. The daemon applies each event to the
board first, then calls it, then runs the steps it returns (engine/execute.py) and applies what they report.

- The board says where the loop is: no cycle → start one when work is pending (the first pass when starting);
  a cycle → its next step, one at a time: reload, each live update, converge, smoke, then its end.
- The events say what just happened that calls for a step beside the cycle: a converge → follow the logs of
  its resources; a cycle that failed for a reason outside the files → arm the retry timer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from devstack.config.model import Config
from devstack.engine import changes as changesets
from devstack.engine import events as ev
from devstack.engine import local_resources, manual
from devstack.engine.state import Board, Cycle, Pending, files_changed
from devstack.engine.steps import (
    ArmRetry,
    BeginCycle,
    Converge,
    EndCycle,
    FollowLogs,
    Hold,
    Ignore,
    LiveUpdate,
    Reload,
    RunCommand,
    RunLocal,
    Smoke,
    Step,
    Work,
)
from devstack.providers import registry

BACKOFF_S = (1.0, 2.0, 4.0, 8.0)  # the retry after the 1st, 2nd, 3rd, … failure in a row for an outside reason


def decide(board: Board, config: Config, events: Sequence[ev.Event]) -> list[Step]:
    steps: list[Step] = list(_reactions(board, events))
    if board.running is None:
        step = _next_of_cycle(board, board.cycle, config) if board.cycle else _start(board, config)
        if step is not None:
            steps.append(step)
    return steps


def _reactions(board: Board, events: Sequence[ev.Event]) -> Iterator[Step]:
    for event in events:
        if isinstance(event, ev.Converged) and event.at and event.resources:
            yield FollowLogs(event.resources)
        elif isinstance(event, ev.CycleEnded) and event.retry_in is not None:
            yield ArmRetry(event.retry_in, attempt=board.failures)
        elif isinstance(event, ev.CommandRequested) and board.commands.get(event.name) != "running":
            yield RunCommand(event.name)


def _start(board: Board, config: Config) -> Step | None:
    if board.phase == "starting":
        return BeginCycle(Work(first=True))
    held = manual.held(board, config)
    if held != board.held:  # the rows say which saves wait for a trigger, before anything else
        return Hold(tuple(sorted(held.items())))
    if not board.pending:
        return None
    work = take(board.pending, config, manual.paths(held, board.pending.triggers))
    if work.changes or work.triggers or work.reason is not None or work.smoke:
        return BeginCycle(work)
    return Ignore(work.paths) if work.paths else None


def take(pending: Pending, config: Config, held: frozenset[Path] = frozenset()) -> Work:
    """The pending work but the saves held for a trigger, its saved files classified against the config of the
    moment."""
    paths = pending.paths - held
    return Work(paths=paths, changes=changesets.classify(config, paths), triggers=pending.triggers,
                reason=pending.reason, smoke=pending.smoke)


def _next_of_cycle(board: Board, cycle: Cycle, config: Config) -> Step:
    work = cycle.work
    changes = work.changes or changesets.Changes()
    if changes.config and "reload" not in cycle.done:
        return Reload()
    if cycle.refused:
        return _end(board, cycle)
    local = frozenset(local_resources.names(config))
    before, after = local_resources.ordered(config, _locals_of(work, changes, local))
    for name in before:
        if f"local {name}" not in cycle.done:
            return RunLocal(name, len(changes.local.get(name, ())))
    if not cycle.ok and before:  # a failing local check stops the cycle as a failed build does
        return _end(board, cycle)
    for image, files in changes.live.items():
        if f"live {image}" not in cycle.done:
            return LiveUpdate(image, tuple(files))
    if work.needs_converge(local) and "converge" not in cycle.done:
        return Converge(tuple(t for t in work.triggers if t not in local), announce=work.first,
                        opening=tuple(_opening(changes, config)))
    for name in after if cycle.ok else ():
        if f"local {name}" not in cycle.done:
            return RunLocal(name, len(changes.local.get(name, ())))
    if cycle.ok and config.smoke and "smoke" not in cycle.done:
        return Smoke(announce=work.first)
    return _end(board, cycle)


def _locals_of(work: Work, changes: changesets.Changes, local: frozenset[str]) -> set[str]:
    """The local resources a cycle runs: all on the first pass, else those saved files or a trigger call for."""
    if work.first:
        return set(local)
    return set(changes.local) | {t for t in work.triggers if t in local}


def _opening(changes: changesets.Changes, config: Config) -> Iterator[tuple[str, str]]:
    for image, files in changes.rebuild.items():
        yield image, files_changed(len(files))
    if changes.deploy:
        yield config.project, registry.deploy_inputs(config).what


def _end(board: Board, cycle: Cycle) -> EndCycle:
    retry = not cycle.ok and cycle.temporary
    return EndCycle(started=cycle.started, lines=tuple((r, " → ".join(s)) for r, s in cycle.lines.items() if s),
                    ok=cycle.ok, first=cycle.work.first, said=not cycle.refused, breakdown=tuple(cycle.breakdown),
                    retry_in=BACKOFF_S[min(board.failures, len(BACKOFF_S) - 1)] if retry else None)
