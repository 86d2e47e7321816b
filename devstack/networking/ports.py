"""Who holds a local port: for errors that say which process to stop, not only which port is taken."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import tomllib
from pathlib import Path

from devstack.config import loader


def in_use(port: int) -> bool:
    """Whether something on this machine already holds the TCP port (a bind test: nothing is sent).

    SO_REUSEADDR, as every server sets it: the TIME_WAIT sockets of connections that just ended (the smoke tests
    of the last `ci`, before a `down`) hold nothing, and the service about to publish the port will bind it.
    A socket that listens there still fails the test."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError as err:
            return err.errno == errno.EADDRINUSE
    return False


def holder(port: int) -> str:
    """' by pid N (command)' for the process listening on `port`, or '' when that cannot be told; for a devstack
    process, the project it runs: ' by devstack up of project 'demo' (pid N)'."""
    pid = _holder_pid(port)
    if pid is None:
        return ""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return f" by pid {pid}"
    project = devstack_project(pid, argv)
    if project:
        return f" by devstack {_command(argv)}of project '{project}' (pid {pid})"
    return f" by pid {pid} ({' '.join(argv)[:80]})"


def held_by_another(port: int) -> str | None:
    """None when the port is free or this process listens there itself (a forward it serves); else its holder,
    as `holder` tells it."""
    if not in_use(port):
        return None
    return None if _holder_pid(port) == os.getpid() else holder(port)


def devstack_project(pid: int, argv: list[str]) -> str:
    """The project a devstack process runs, read from the devstack.toml it runs on ("" when it is none, or that
    cannot be told): its -f/--file, or the one its working folder finds."""
    if not any(Path(arg).name == "devstack" for arg in argv[:3]):
        return ""
    explicit = next((argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg in ("-f", "--file")), None)
    explicit = explicit or next((a.split("=", 1)[1] for a in argv if a.startswith("--file=")), None)
    try:
        cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        found = [cwd / explicit] if explicit else [d / loader.FILENAME for d in (cwd, *cwd.parents)]
        path = next(f for f in found if f.is_file())
        with path.open("rb") as file:
            name = tomllib.load(file).get("project", {}).get("name", "")
    except (OSError, StopIteration, tomllib.TOMLDecodeError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""


def _command(argv: list[str]) -> str:
    """The devstack command a process runs ("up ", "ci "), from its arguments."""
    known = ("up", "ci", "smoke", "run", "wait")
    return next((f"{arg} " for arg in argv if arg in known), "")


def _holder_pid(port: int) -> int | None:
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and wanted & _fd_links(proc):
            return int(proc.name)
    return None


def _fd_links(proc: Path) -> set[str]:
    """What the process's descriptors point at. Each one may close while we look (the listing's own does)."""
    links = set()
    with contextlib.suppress(OSError):
        for fd in (proc / "fd").iterdir():
            with contextlib.suppress(OSError):
                links.add(str(fd.readlink()))
    return links


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                    inodes.add(fields[9])
    return inodes
