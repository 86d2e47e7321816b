"""Live update: copy changed files into a running container through the API's exec with tar (what `kubectl cp`
does), remove the ones deleted locally, then run the restart command: one exec running `sh -c` when there is more
than one step. No image build, no rollout.

Needs `tar` in the container, as `kubectl cp` does (and `sh` for the single exec; without it, one exec a step).

Exec offers the API server v5.channel.k8s.io first: it can close the command's stdin, so a command that reads its
input to the end (tar does, and `cat`) sees the end of it. Servers before Kubernetes 1.29 know only
v4.channel.k8s.io, offered second: there the copy relies on tar stopping at its archive's end marker.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shlex
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack import blocking
from devstack.errors import DeployError
from devstack.providers.kubernetes import websocket
from devstack.providers.kubernetes.api import Api

Files = Sequence[tuple[Path, str]]  # (local path, absolute path in the container)
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")  # offered in this order; the server picks the first it knows
_FRAME = 64 * 1024  # stdin goes in websocket frames of this size
_STDIN, _CLOSE = 0, 255  # v5's close channel: its message names the channel that ends
_TIMEOUT_S = 120.0
_STEP_S = 0.1  # how often a running exec looks whether its call was cancelled
_MARK = "devstack-live-update-step:"  # a failing step of a script says its number on stderr
_NO_SHELL = "executable file not found"  # the runtime's words when the image has no `sh`
# Unlike swarm's archive API, exec runs as the container's user.
_WRITABLE = ("\n  live update writes as the container's user: make the synced files and their folders writable by it "
             "in the Dockerfile (COPY --chown=UID:GID …)")


def sync_files(api: Api, namespace: str, pod: str, container: str, files: Files, restart: Sequence[str], *,
               protocols: Sequence[str] = PROTOCOLS) -> None:
    """Make the container's copies match the local files (deleted ones removed), then run the `restart`
    command (an argv, as in [images.NAME.live_update]; empty: none). The steps go in one exec when there are
    several (each exec is a round trip through the API server, the kubelet and the runtime)."""
    present = [(local, remote) for local, remote in files if local.exists()]
    removed = [remote for local, remote in files if not local.exists()]
    where = f"pod {pod} container {container}"
    steps = []
    if present:
        steps.append(Step(f"copying {len(present)} file(s) into {where}", ["tar", "-xf", "-", "-C", "/"]))
    if removed:
        steps.append(Step(f"removing {len(removed)} file(s) from {where}", ["rm", "-rf", "--", *removed]))
    if restart:
        steps.append(Step(f"running `{' '.join(restart)}` in {where}", list(restart)))
    stdin = archive(present) if present else None
    if len(steps) == 1:
        run(api, namespace, pod, container, steps[0], stdin, protocols=protocols)
    elif steps:
        run_steps(api, namespace, pod, container, steps, stdin, protocols=protocols)


@dataclass(frozen=True)
class Step:
    what: str  # for errors: "copying 2 file(s) into pod relay-0 container relay"
    command: list[str]

    @property
    def copies(self) -> bool:
        """The copy: tar, the one step that reads stdin (the archive)."""
        return self.command[0] == "tar"


def run_steps(api: Api, namespace: str, pod: str, container: str, steps: Sequence[Step], stdin: bytes | None, *,
              protocols: Sequence[str] = PROTOCOLS) -> None:
    """The steps in order, in one `sh -c`; the first to fail stops the rest and is named. A container without a
    shell gets one exec per step."""
    where = f"live update of pod {pod} container {container}"
    outcome = execute(api, namespace, pod, container, ["sh", "-c", script(steps)], stdin, where, protocols)
    if not outcome.failure:
        return
    marks = [line.removeprefix(_MARK) for line in outcome.detail.splitlines() if line.startswith(_MARK)]
    detail = "\n".join(line for line in outcome.detail.splitlines() if not line.startswith(_MARK))
    if not marks and _NO_SHELL in f"{outcome.failure} {detail}":
        for step in steps:
            run(api, namespace, pod, container, step, stdin, protocols=protocols)
        return
    failed = steps[int(marks[-1])] if marks and marks[-1].isdigit() and int(marks[-1]) < len(steps) else None
    raise DeployError(_message(failed.what if failed else where, outcome.failure, detail,
                               tar=failed is not None and failed.copies))


def script(steps: Sequence[Step]) -> str:
    """Each step's command, then on failure its number on stderr and its exit status. Only tar reads stdin."""
    lines = []
    for number, step in enumerate(steps):
        redirect = "" if step.copies else " </dev/null"
        lines.append(f"{shlex.join(step.command)}{redirect} || {{ s=$?; echo {_MARK}{number} >&2; exit $s; }}")
    return "\n".join(lines)


def archive(files: Files) -> bytes:
    """A tar of the local files under their container paths (relative to /, as tar -C / expects)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for local, remote in files:
            if not remote.startswith("/"):
                raise DeployError(f"live update: remote path {remote!r} must be absolute")
            tar.add(str(local), arcname=remote.lstrip("/"), recursive=True, filter=_anonymous)
    return buffer.getvalue()


def run(api: Api, namespace: str, pod: str, container: str, step: Step, stdin: bytes | None, *,
        protocols: Sequence[str] = PROTOCOLS) -> None:
    """Exec one step (given the archive when it is the copy); DeployError with its stderr and exit code."""
    outcome = execute(api, namespace, pod, container, step.command, stdin if step.copies else None, step.what,
                      protocols)
    if outcome.failure:
        raise DeployError(_message(step.what, outcome.failure, outcome.detail, tar=step.copies))


@dataclass(frozen=True)
class Outcome:
    detail: str  # stderr
    failure: str  # "" on success, else what went wrong ("exit code 1")
    protocol: str  # the one the server chose


def execute(api: Api, namespace: str, pod: str, container: str, command: list[str], stdin: bytes | None,
            what: str, protocols: Sequence[str] = PROTOCOLS) -> Outcome:
    """Run a command in the container, given `stdin` (then closed, where the protocol can), to its end."""
    try:
        ran = _exec(api, namespace, pod, container, command, stdin, protocols)
    except websocket.Rejected as err:
        raise DeployError(api.scrub(f"{what} failed: cannot exec in the pod: {refusal(err)}")) from None
    return Outcome(api.scrub(ran.stderr.decode("utf-8", "replace").strip()), _failure(ran.status), ran.protocol)


def refusal(err: websocket.Rejected) -> str:
    """What the server said when it refused the exec, with what to ask for when it is RBAC (since 1.35 a
    websocket exec takes `create` too)."""
    message = str(err).removeprefix("the API server refused the stream: ")
    if err.status == 403 or "forbidden" in message.lower():
        message += " (exec needs the verbs get and create on pods/exec)"
    return message


def exec_output(api: Api, namespace: str, pod: str, container: str, command: list[str]) -> tuple[int, str]:
    """Run a command in a container: its exit code and what it printed (stdout, then stderr), scrubbed."""
    try:
        ran = _exec(api, namespace, pod, container, command, None, PROTOCOLS)
    except websocket.Rejected as err:
        raise DeployError(api.scrub(f"cannot exec in pod {pod}: {refusal(err)}")) from None
    failure = _failure(ran.status)
    code = 0 if not failure else int(failure.removeprefix("exit code ")) if failure.startswith("exit code ") else 1
    return code, api.scrub((ran.stdout + ran.stderr).decode("utf-8", "replace"))


@dataclass(frozen=True)
class _Ran:
    stdout: bytes
    stderr: bytes
    status: bytes  # the status channel's metav1.Status
    protocol: str


def _exec(api: Api, namespace: str, pod: str, container: str, command: list[str], stdin: bytes | None,
          protocols: Sequence[str]) -> _Ran:
    """The exec subresource over devstack's own websocket client, as port forwards use it (the client library's
    exec builds its typed API first: seconds of CPU on the first call). Blocking: the provider's threads call it."""
    query = [*(("command", part) for part in command), ("container", container), ("stdout", "true"),
             ("stderr", "true"), ("stdin", "true" if stdin is not None else "false"), ("tty", "false")]
    request = api.upgrade(f"/api/v1/namespaces/{namespace}/pods/{pod}/exec", query, ",".join(protocols))
    try:
        return asyncio.run(asyncio.wait_for(_exchange(request, stdin), _TIMEOUT_S))
    except TimeoutError:
        raise DeployError(f"exec in pod {pod}: no end within {_TIMEOUT_S:.0f}s") from None
    except OSError as err:
        raise DeployError(api.scrub(f"exec in pod {pod}: the stream broke: {err}")) from None


async def _exchange(request: websocket.Request, stdin: bytes | None) -> _Ran:
    """Send stdin (0), closing it on v5 (the close channel, 255); collect stdout (1), stderr (2) and the status (3)
    until the server closes. A cancelled call (Ctrl-C, a newer save) ends it within a step."""
    ws = await websocket.connect(request)
    received = asyncio.ensure_future(_received(ws))
    try:
        with contextlib.suppress(ConnectionError):  # the command ended early: its status says why
            for start in range(0, len(stdin or b""), _FRAME):
                blocking.check()
                await ws.send(b"\x00" + (stdin or b"")[start:start + _FRAME])
            if stdin is not None and ws.protocol == "v5.channel.k8s.io":
                await ws.send(bytes((_CLOSE, _STDIN)))
        while not (await asyncio.wait({received}, timeout=_STEP_S))[0]:
            blocking.check()
        stdout, stderr, status = received.result()
    finally:
        received.cancel()
        await ws.close()
    return _Ran(stdout, stderr, status, ws.protocol)


async def _received(ws: websocket.WebSocket) -> tuple[bytes, bytes, bytes]:
    """What came on stdout (1), stderr (2) and the status channel (3) until the server closed."""
    channels: dict[int, list[bytes]] = {1: [], 2: [], 3: []}
    while (message := await ws.receive()) is not None:
        if message and message[0] in channels:
            channels[message[0]].append(message[1:])
    return b"".join(channels[1]), b"".join(channels[2]), b"".join(channels[3])


def _message(what: str, failure: str, detail: str, *, tar: bool) -> str:
    hint = _WRITABLE if tar and ("Cannot open" in detail or "Permission denied" in detail) else ""
    return f"{what} failed: {failure}" + (f"\n  | {detail}" if detail else "") + hint


def _failure(status: bytes) -> str:
    """'' on success, else what went wrong, from the exec's status channel (a metav1.Status)."""
    if not status:
        return "the connection closed before the command's status arrived"
    try:
        parsed = json.loads(status)
    except ValueError:
        return status.decode("utf-8", "replace")[:200]
    if parsed.get("status") == "Success":
        return ""
    causes = (parsed.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    return f"exit code {code}" if code is not None else str(parsed.get("message", "failed"))


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    # The container's user owns what it extracts; the host's user and group names mean nothing there.
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
