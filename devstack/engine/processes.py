"""Commands on this machine ([[local]] resources, [[commands]] with `run`): a child process whose output comes
line by line, stdout and stderr together, as it prints them. Cancelling the awaiting task ends the process group
(TERM, then KILL after a grace), so Ctrl-C leaves nothing running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_GRACE_S = 2.0


async def run(argv: Sequence[str], workdir: Path, env: Mapping[str, str], on_line: Callable[[str], None]) -> int:
    """Run to completion; its exit code (a missing program is 127, as a shell says it)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=workdir, env={**os.environ, **env}, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
    except FileNotFoundError:
        on_line(f"{argv[0]}: command not found")
        return 127
    except PermissionError:
        on_line(f"{argv[0]}: permission denied")
        return 126
    try:
        return await _pump(process, on_line)
    finally:
        await stop(process)


async def _pump(process: asyncio.subprocess.Process, on_line: Callable[[str], None]) -> int:
    assert process.stdout is not None
    async for raw in process.stdout:
        on_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
    return await process.wait()


async def stop(process: asyncio.subprocess.Process) -> None:
    """End the process and its children, if it still runs: TERM to its group, KILL after the grace."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), _GRACE_S)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
