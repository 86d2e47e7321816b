"""The published-port check: a port is taken only when something listens there, not when connections that just
ended still wait in TIME_WAIT on it (every `ci`, `down`, `ci` within a minute left some)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from devstack.networking import ports


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def waiting_sockets(port: int) -> int:
    """How many sockets bound to `port` are in TIME_WAIT (state 06 in /proc/net/tcp and tcp6)."""
    rows = [row.split() for table in ("tcp", "tcp6") for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "06")


def end_a_connection_server_first(port: int) -> None:
    """What a server (or docker-proxy) that closes first leaves: its side waits in TIME_WAIT on the port."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do, docker-proxy included
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        with socket.create_connection(("127.0.0.1", port)) as client:
            server, _ = listener.accept()
            server.close()
            assert client.recv(1) == b""


def test_time_wait_sockets_do_not_make_a_port_in_use() -> None:
    port = free_port()
    end_a_connection_server_first(port)
    assert waiting_sockets(port) == 1
    assert not ports.in_use(port)


def test_a_listening_socket_does() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(1)
        assert ports.in_use(port)
        assert ports.holder(port).startswith(f" by pid {os.getpid()} (")
    assert not ports.in_use(port)
