"""Live update: copy changed files into a running container through the API's exec with tar (what `kubectl cp`
does), remove the ones deleted locally, then run the restart commands. No image build, no rollout.

Needs `tar` in the container, as `kubectl cp` does.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from devstack.errors import DeployError
from devstack.providers.kubernetes.api import Api

Files = Sequence[tuple[Path, str]]  # (local path, absolute path in the container)
_FRAME = 64 * 1024  # stdin goes in websocket frames of this size
_TIMEOUT_S = 120.0
# Unlike swarm's archive API, exec runs as the container's user.
_WRITABLE = ("\n  live update writes as the container's user: make the synced files and their folders writable by it "
             "in the Dockerfile (COPY --chown=UID:GID …)")


def sync_files(api: Api, namespace: str, pod: str, container: str, files: Files, restart: Sequence[str]) -> None:
    """Make the container's copies match the local files (deleted ones removed), then run the `restart`
    command (an argv, as in [images.NAME.live_update]; empty: none)."""
    present = [(local, remote) for local, remote in files if local.exists()]
    removed = [remote for local, remote in files if not local.exists()]
    where = f"pod {pod} container {container}"
    if present:
        run(api, namespace, pod, container, ["tar", "-xf", "-", "-C", "/"], stdin=archive(present),
            what=f"copying {len(present)} file(s) into {where}")
    if removed:
        run(api, namespace, pod, container, ["rm", "-rf", "--", *removed],
            what=f"removing {len(removed)} file(s) from {where}")
    if restart:
        run(api, namespace, pod, container, list(restart), what=f"running `{' '.join(restart)}` in {where}")


def archive(files: Files) -> bytes:
    """A tar of the local files under their container paths (relative to /, as tar -C / expects)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for local, remote in files:
            if not remote.startswith("/"):
                raise DeployError(f"live update: remote path {remote!r} must be absolute")
            tar.add(str(local), arcname=remote.lstrip("/"), recursive=True, filter=_anonymous)
    return buffer.getvalue()


def run(api: Api, namespace: str, pod: str, container: str, command: list[str], *, what: str,
        stdin: bytes | None = None) -> str:
    """Exec a command; its stdout, or DeployError with its stderr and exit code."""
    try:
        client: Any = stream(api.core().connect_get_namespaced_pod_exec, pod, namespace, command=command,
                             container=container, stdin=stdin is not None, stdout=True, stderr=True, tty=False,
                             _preload_content=False, binary=True)
    except ApiException as err:
        raise DeployError(f"{what} failed: cannot exec in the pod: {err.reason}") from None
    try:
        if stdin is not None:
            for start in range(0, len(stdin), _FRAME):
                client.write_stdin(stdin[start:start + _FRAME])
            client.close_channel(0)  # v5 only: tells the command its stdin ended; tar also stops at its end marker
        client.run_forever(timeout=_TIMEOUT_S)
        out, errors, status = client.read_stdout(0), client.read_stderr(0), client.read_channel(3)
    finally:
        client.close()
    failure = _failure(status)
    if failure:
        detail = api.scrub(bytes(errors).decode("utf-8", "replace").strip())
        hint = _WRITABLE if command[0] == "tar" and ("Cannot open" in detail or "Permission denied" in detail) else ""
        raise DeployError(f"{what} failed: {failure}" + (f"\n  | {detail}" if detail else "") + hint)
    return api.scrub(bytes(out).decode("utf-8", "replace"))


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
