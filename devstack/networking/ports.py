"""Who holds a local port: for errors that say which process to stop, not only which port is taken."""

from __future__ import annotations

import contextlib
import errno
import socket
from pathlib import Path


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
    """' by pid N (command)' for the process listening on `port`, or '' when that cannot be told."""
    inodes = _listening_inodes(port)
    if not inodes:
        return ""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and wanted & _fd_links(proc):
            with contextlib.suppress(OSError):
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f" by pid {proc.name} ({command[:80]})"
    return ""


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
