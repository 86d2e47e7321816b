"""One pass of the pipeline: plan images → build the missing ones → deliver → plan the deploy → apply when it
changed → wait until ready. `ci` runs it once; the daemon runs it on every change.

Blocking SDK calls run in threads that stop when the pass is cancelled (devstack.blocking); independent images
build concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from devstack import blocking
from devstack.config import resources
from devstack.config.model import BASE_ARG, Config, ImageSpec
from devstack.engine import events, order
from devstack.errors import DevstackError
from devstack.images import build, package_base
from devstack.images.builder import Builder, DockerBuilder
from devstack.observe import forwards
from devstack.observe.console import Console
from devstack.providers.base import DeployPlan, Provider

T = TypeVar("T")
_GRACE_S = 5.0
_SHOWN = {"deploy": "apply"}  # how the breakdown names a step


@dataclass
class Outcome:
    built: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # image name → tag
    deploy: DeployPlan | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # step → duration
    build_seconds: dict[str, float] = field(default_factory=dict)  # image name → its build's duration
    ready_phases: dict[str, float] = field(default_factory=dict)  # the readiness wait's phases, as the provider says

    def breakdown(self) -> tuple[tuple[str, float], ...]:
        """Where the pass's time went, step by step in order (`up -v` prints it): the readiness wait as its
        phases when the provider told them (rollout, endpoints)."""
        steps: list[tuple[str, float]] = []
        for step, seconds in self.seconds.items():
            if step == "ready" and self.ready_phases:
                steps.extend(self.ready_phases.items())
            elif step != "base" or seconds >= 0.005:
                steps.append((_SHOWN.get(step, step), seconds))
        return tuple(steps)

    @property
    def changed_anything(self) -> bool:
        return bool(self.built) or bool(self.deploy and self.deploy.changed)


Report = Callable[[events.Planned | events.Building | events.Deploying | events.Waiting], None]


async def converge(config: Config, provider: Provider, console: Console, timeout_s: float, *,
                   announce: bool = True, builder: Builder | None = None, report: Report | None = None,
                   settle_s: float = 0.0, serving: Collection[int] = ()) -> Outcome:
    """`announce`: print a line per step (ci, the first pass of up); the daemon prints one line per cycle.
    `report`: told the pass's progress (planned, building, deploying), for the daemon's board. `settle_s`: how
    long everything must stay ready before the pass counts it ready (Provider.wait_ready). `serving`: the local
    ports this process's forwards listen on already (free for them)."""
    report = report or (lambda _progress: None)
    outcome = Outcome()
    builder = builder or DockerBuilder()
    deadline = time.monotonic() + timeout_s
    image_plan = await _timed(outcome, "plan", blocking.call(builder.plan, config))
    note = (lambda message: console.event(config.project, message)) if announce else (lambda _message: None)
    await _timed(outcome, "prepare", blocking.call(provider.prepare, note))
    outcome.images = {t.spec.name: t.tag for t in image_plan.targets}
    for target in image_plan.targets:
        if announce and target not in image_plan.missing:
            console.event(target.spec.name, f"image unchanged ({target.tag})")
        elif announce and package_base.needs_offline(target.spec):
            console.event(target.spec.name, f"FROM {target.spec.args[BASE_ARG]}: the offline base of its "
                                            f"packages ({package_base.why_offline()})")
    # Tags are content hashes, known before any build: plan the deploy first, so a bad stack file or a missing
    # variable is reported at once rather than after minutes of building.
    deploy_plan = await _timed(outcome, "render", blocking.call(provider.plan, image_plan.tags))
    forwards.check_free(await blocking.call(provider.relayed), serving)  # another project's: said before a build
    resources.check_names(config, deploy_plan.resources)  # [resources.X], depends_on: names the deploy knows
    outcome.deploy = deploy_plan
    report(events.Planned(deploy_plan.resources, dict(deploy_plan.resource_images), dict(outcome.images)))
    if image_plan.missing:
        report(events.Building(tuple(t.spec.name for t in image_plan.missing)))
    await _timed(outcome, "base", build_bases(builder, image_plan.bases, console))
    if image_plan.missing:
        await _timed(outcome, "build", build_all(builder, image_plan.missing, config.project, console, outcome))
        outcome.built = [t.spec.name for t in image_plan.missing]
        await _timed(outcome, "deliver", blocking.call(provider.deliver, [t.tag for t in image_plan.missing]))
    if deploy_plan.changed:
        await _timed(outcome, "deploy", deploy_in_order(config, provider, deploy_plan, console, report,
                                                        announce=announce, deadline=deadline))
        if announce:
            took = outcome.seconds["deploy"]
            console.event(config.project, f"deployed {len(deploy_plan.resources)} services in {took:.1f}s")
    elif announce:
        console.event(config.project, "deployment unchanged")
    remaining = max(deadline - time.monotonic(), 1.0)
    waited = blocking.call(provider.wait_ready, deploy_plan, remaining, settle_s=settle_s)
    phases = await _timed(outcome, "ready", waited)
    outcome.ready_phases = dict(phases or {})
    return outcome


async def deploy_in_order(config: Config, provider: Provider, plan: DeployPlan, console: Console, report: Report, *,
                          announce: bool, deadline: float) -> None:
    """Apply the deploy stage by stage (engine/order.py): the resources of a stage once those of the earlier ones
    are ready; dependents meanwhile held back by the provider (not started, or left as they run). The last stage
    applies the whole deploy. Without dependencies, one stage: the deploy as a whole."""
    stages = order.stages(config, plan.resources)
    ready: set[str] = set()
    for i, stage in enumerate(stages):
        later = [name for names in stages[i + 1:] for name in names]
        held = order.waiting(config, later, ready)
        if held:
            report(events.Waiting(held))
            for name, deps in held.items() if announce else ():
                console.event(name, f"waiting on {', '.join(deps)}")
        report(events.Deploying(stage))
        upto = ready | set(stage)
        for warning in await blocking.call(provider.apply, plan, None if not later else frozenset(upto)):
            console.event(config.project, f"warning: {warning}")
        if later:
            await blocking.call(provider.wait_ready, plan, max(deadline - time.monotonic(), 1.0), frozenset(upto))
            ready = upto


def run_once(config: Config, provider: Provider, console: Console, timeout_s: float,
             builder: Builder | None = None) -> Outcome:
    """Converge once, within `timeout_s` for everything (builds included)."""
    return asyncio.run(within(config, provider, console, timeout_s, builder))


async def within(config: Config, provider: Provider, console: Console, timeout_s: float,
                 builder: Builder | None = None, settle_s: float = 0.0) -> Outcome:
    """Converge once on the running loop, within `timeout_s` for everything (builds included)."""
    try:
        # A little grace, so a readiness wait that runs out reports its own, more telling, error first.
        passed = converge(config, provider, console, timeout_s, builder=builder, settle_s=settle_s)
        return await asyncio.wait_for(passed, timeout_s + _GRACE_S)
    except TimeoutError:
        message = f"timed out after {timeout_s:.0f}s (raise --timeout if the stack needs longer)"
        raise DevstackError(message) from None


async def build_bases(builder: Builder, specs: tuple[ImageSpec, ...], console: Console) -> None:
    """The offline bases that missing images need, one after the other (two debootstraps at once only compete)."""
    for spec in specs:
        with console.progress(f"building the offline base of {spec.name}"):
            await blocking.call(builder.build_base, spec, console.info)


async def build_all(builder: Builder, targets: tuple[build.Target, ...], project: str,
                    console: Console, outcome: Outcome) -> None:
    """Build concurrently, each image after its `base` when that is built too; wait for all, then report every
    failure rather than the first one only."""
    if not targets:
        return
    builds: dict[str, asyncio.Future[None]] = {}

    async def one(target: build.Target) -> None:
        base = builds.get(target.spec.base or "")
        if base is not None and not await _succeeded(base):
            raise DevstackError(f"{target.spec.name}: not built: its base image {target.spec.base} did not build")
        started = time.monotonic()
        await blocking.call(builder.build, target, project, console.build_output)
        outcome.build_seconds[target.spec.name] = time.monotonic() - started
        console.event(target.spec.name, f"built {time.monotonic() - started:.1f}s ({target.tag})", ok=True)

    with console.progress("building " + ", ".join(t.spec.name for t in targets)):
        for target in targets:  # every build is scheduled before the first one runs: each finds its base's
            builds[target.spec.name] = asyncio.ensure_future(one(target))
        results = await asyncio.gather(*builds.values(), return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    for failure in failures:
        if not isinstance(failure, DevstackError):
            raise failure
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise DevstackError("\n".join(str(f) for f in failures))


async def _succeeded(build_of_base: asyncio.Future[None]) -> bool:
    """Wait for a base image's build: True when it succeeded (its own failure is reported by itself)."""
    try:
        await asyncio.shield(build_of_base)
    except DevstackError:
        return False
    return True


async def _timed(outcome: Outcome, step: str, work: Awaitable[T]) -> T:
    started = time.monotonic()
    try:
        return await work
    finally:
        outcome.seconds[step] = time.monotonic() - started

