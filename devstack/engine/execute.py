"""The steps `decide()` returns, carried out off the loop: each runs in a task of its own, does its I/O (builds,
deploys, syncs, smoke tests, the console) and returns what happened as an event for the board. Nothing here
writes the board; a converge's progress goes to the loop through `report`.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from devstack import blocking
from devstack.config.model import Config, LocalResource
from devstack.engine import changes as changesets
from devstack.engine import commands, local_resources, processes, smoke_session
from devstack.engine import events as ev
from devstack.engine.converge import converge
from devstack.engine.state import now_iso
from devstack.engine.steps import (
    ArmRetry,
    Converge,
    EndCycle,
    FollowLogs,
    LiveUpdate,
    Reload,
    RunCommand,
    RunLocal,
    Smoke,
    Step,
)
from devstack.errors import DevstackError, is_temporary
from devstack.images.builder import Builder
from devstack.observe import forwards, logs
from devstack.observe.console import Console
from devstack.providers.base import Provider
from devstack.smoke import runner


@dataclass
class Context:
    """What the steps work with. A reload replaces the config and the provider; everything else stays."""

    config: Config
    provider: Provider
    load: Callable[[], Config]
    make_provider: Callable[[Config], Provider]
    console: Console
    builder: Builder
    timeout_s: float
    forwards: forwards.Forwards
    logs: logs.Followers
    report: Callable[[ev.Event], None]
    verbose: bool = False  # `up -v`: a breakdown of each cycle's time after its line
    serving: dict[str, asyncio.Task[None]] = field(default_factory=dict)  # [[local]] serve commands running

    async def stop_serving(self, name: str | None = None) -> None:
        """End the `serve` of one local resource (None: of all), waiting until its process group is gone."""
        tasks = [self.serving.pop(n) for n in list(self.serving) if name is None or n == name]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run(step: Step, context: Context) -> ev.Event | None:
    """Carry out `step`; the event that says how it went (None for a step that reports nothing)."""
    match step:
        case Reload():
            return await reload(context)
        case LiveUpdate():
            return await live_update(step, context)
        case Converge():
            return await converge_step(step, context)
        case Smoke():
            return await smoke(step, context)
        case EndCycle():
            return end_cycle(step, context)
        case ArmRetry(delay_s, attempt):
            await asyncio.sleep(delay_s)
            return ev.RetryDue(attempt)
        case RunLocal():
            return await run_local(step, context)
        case RunCommand(name):
            return await run_command(name, context)
        case FollowLogs(resources):
            context.logs.follow(context.provider.follow_logs, resources, since=time.time())
    return None  # the steps that only change the board (BeginCycle, Ignore) are not run at all


async def reload(context: Context) -> ev.Reloaded:
    project = context.config.project
    try:
        config = context.load()
        provider = context.make_provider(config)  # one refused (a context that is no dev cluster) keeps the old
    except DevstackError as err:
        context.console.event(project, f"config not reloaded: {err} (the stack keeps running)", ok=False)
        return ev.Reloaded(error=str(err))
    old = context.provider
    context.logs.hand_over(provider.follow_logs)  # before the old one closes: its log streams end with it
    await old.disconnect()  # the forwards' next connections go through the new provider
    context.config, context.provider = config, provider
    old.close()
    # The old provider's watches, followers and tunnels reference each other: left to the cyclic collector, which
    # runs rarely in a quiet daemon, they would keep their connections to the cluster open for hours.
    del old
    gc.collect()
    return ev.Reloaded(project=config.project, disabled=config.disabled)


async def live_update(step: LiveUpdate, context: Context) -> ev.LiveUpdated:
    spec = context.config.images[step.image]
    pairs = [(path, target) for path in step.files if (target := changesets.sync_target(spec, path)) is not None]
    restart = spec.live_update.restart if spec.live_update else ()
    started = time.monotonic()
    try:
        updated = await blocking.call(context.provider.sync, spec.ref, pairs, restart)
    except DevstackError as err:
        context.console.error(str(err))
        return ev.LiveUpdated(error=str(err), temporary=is_temporary(err), image=step.image)
    return ev.LiveUpdated(image=step.image, files=len(step.files), containers=len(updated),
                          seconds=time.monotonic() - started)


async def converge_step(step: Converge, context: Context) -> ev.Converged:
    config, provider = context.config, context.provider
    done = ev.Converged(project=config.project)
    try:
        # The forwards first: their ports are this project's from before its first build, so a second project
        # wanting one is refused before it builds anything (and a taken one refuses this cycle as early).
        await context.forwards.ensure(await blocking.call(provider.relayed))
        outcome = await converge(config, provider, context.console, context.timeout_s, announce=step.announce,
                                 builder=context.builder, report=context.report, serving=context.forwards.serving)
        plan = outcome.deploy
        if plan is None:
            return done
        forwarding = time.monotonic()
        await context.forwards.ensure(await blocking.call(provider.relayed))
        steps = (*outcome.breakdown(), ("forwards", time.monotonic() - forwarding))
        done = ev.Converged(project=config.project, built=dict(outcome.build_seconds), tags=dict(outcome.images),
                            resources=plan.resources, resource_images=dict(plan.resource_images),
                            changed=plan.changed, at=now_iso(), steps=steps,
                            seconds=outcome.seconds.get("deploy", 0.0) + outcome.seconds.get("ready", 0.0))
        restarted = []
        for resource in step.triggers if not outcome.changed_anything else ():
            await blocking.call(provider.restart, resource)
            await blocking.call(provider.wait_ready, plan, context.timeout_s)
            restarted.append(resource)
        return replace(done, restarted=tuple(restarted))
    except DevstackError as err:
        context.console.error(str(err))
        return replace(done, error=str(err), temporary=is_temporary(err))


async def smoke(step: Smoke, context: Context) -> ev.Smoked:
    specs, console = context.config.smoke, context.console
    started = time.monotonic()
    results = await runner.run_all(specs, context.provider.logs)
    if step.announce:  # the first pass shows every test's line, as `ci` does; later cycles sum them up
        for result in (r for r in results if r.ok):
            console.event("smoke", result.line(), ok=True)
    done = ev.Smoked(results=tuple(results), about=tuple(spec.resource for spec in specs),
                     seconds=time.monotonic() - started)
    failed = [r for r in results if not r.ok]
    if failed:
        try:
            smoke_session.report(failed, console)
        except DevstackError as err:
            return replace(done, error=str(err))
    return done


async def run_local(step: RunLocal, context: Context) -> ev.LocalRan:
    local, console = local_resources.spec(context.config, step.name), context.console
    started = time.monotonic()
    await context.stop_serving(step.name)  # a changed dependency restarts its serve after the command
    code = await local_resources.run(local, lambda line: console.log_line(step.name, line))
    seconds = time.monotonic() - started
    if code != 0:
        error = f"local resource {step.name}: `{local.command.text if local.command else ''}` exited {code}"
        console.error(error)
        return ev.LocalRan(error=error, name=step.name, seconds=seconds, at=now_iso())
    if local.serve is not None:
        task = context.serving[step.name] = asyncio.create_task(_serve(local, console), name=f"serve {step.name}")
        problem = await local_resources.wait_ready(local, task)  # what depends on it waits for this
        if problem:
            console.error(problem)
            return ev.LocalRan(error=problem, name=step.name, seconds=time.monotonic() - started, at=now_iso())
    return ev.LocalRan(name=step.name, seconds=seconds, at=now_iso())


async def _serve(local: LocalResource, console: Console) -> None:
    """A local resource's `serve`, kept running until the daemon stops or its deps change; an exit is said."""
    assert local.serve is not None
    try:
        code = await processes.run(local.serve.argv, local.workdir, local.env,
                                   lambda line: console.log_line(local.name, line))
    except Exception as err:  # a broken serve must not take the daemon down; say so
        console.event(local.name, f"serve failed: {err}", ok=False)
        return
    console.event(local.name, f"serve `{local.serve.text}` exited {code}", ok=code == 0)


async def run_command(name: str, context: Context) -> ev.CommandDone:
    try:
        spec = commands.find(context.config, name)
        code = await commands.run(spec, context.provider, lambda line: context.console.log_line(spec.resource, line))
    except DevstackError as err:
        context.console.event(name, f"command failed: {err}", ok=False)
        return ev.CommandDone(error=str(err), name=name, code=-1)
    context.console.event(spec.resource, f"command {name} {'done' if code == 0 else f'exited {code}'}", ok=code == 0)
    return ev.CommandDone(error="" if code == 0 else f"exited {code}", name=name, code=code)


def breakdown(steps: tuple[tuple[str, float], ...], total: float) -> str:
    """`up -v`'s line of a cycle: each step's seconds in order, a smoke run with its tests', and the rest (the
    loop's own time between steps): "breakdown 4.1s: build 0.5s · deliver 0.3s · … · smoke 0.4s (inject 0.3s)"."""
    parts: list[str] = []
    for name, seconds in steps:
        test = name.removeprefix("smoke:")
        if test != name and parts:
            opened = parts[-1].endswith(")")
            parts[-1] = (parts[-1][:-1] + ", " if opened else parts[-1] + " (") + f"{test} {seconds:.2f}s)"
        else:
            parts.append(f"{name} {seconds:.2f}s")
    rest = total - sum(seconds for name, seconds in steps if not name.startswith("smoke:"))
    return f"breakdown {total:.2f}s: " + " · ".join([*parts, f"between steps {max(rest, 0.0):.2f}s"])


def end_cycle(step: EndCycle, context: Context) -> ev.CycleEnded:
    console, project = context.console, context.config.project
    seconds = time.monotonic() - step.started
    if step.said and not step.first:
        for resource, line in step.lines:
            console.event(resource, f"{line} ({seconds:.1f}s)", ok=step.ok)
    if context.verbose and step.said and step.breakdown:
        console.event(project, breakdown(step.breakdown, seconds))
    if step.retry_in is not None:
        console.event(project, f"failed for a reason outside the files: retrying in {step.retry_in:.0f}s (no edit "
                      "needed)", ok=False)
    if step.first:
        for spec in context.config.resources.values():  # [resources.NAME] links, beside the forwards
            for link in spec.links if spec.name not in context.config.disabled else ():
                console.event(spec.name, f"{link.name}: {link.url}")
        if not step.ok and step.retry_in is None:
            console.error("the first pass failed: fix it and save; devstack retries on every change")
        console.info("watching for changes (Ctrl-C stops watching; the stack keeps running)")
    return ev.CycleEnded(error="" if step.ok else "the cycle failed", temporary=step.retry_in is not None,
                         retry_in=step.retry_in, seconds=seconds)
