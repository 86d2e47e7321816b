"""The published-port check: a port is taken only when something listens there, not when connections that just
ended still wait in TIME_WAIT on it (every `ci`, `down`, `ci` within a minute left some)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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


def test_a_port_this_process_serves_is_not_held_by_another() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        assert ports.held_by_another(listener.getsockname()[1]) is None


def test_a_devstack_process_holding_a_port_is_named_by_its_project(tmp_path: Path) -> None:
    """Another `devstack up` (here a process whose arguments read so, in a project folder) holding a port: the
    refusal names its project and pid, read from the devstack.toml it runs on."""
    (tmp_path / "devstack.toml").write_text('[project]\nname = "mailu"\n')
    port = free_port()
    listen = (f"import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1); "
              "print('ok', flush=True); time.sleep(60)")
    # argv[0] named devstack, as the console script's is: exec -a sets it.
    holder = subprocess.Popen(["bash", "-c", f'exec -a {tmp_path}/devstack {sys.executable} -c "{listen}" up'],
                              cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ok\n"
        assert ports.held_by_another(port) == f" by devstack up of project 'mailu' (pid {holder.pid})"
    finally:
        holder.kill()
        holder.wait()


def test_another_program_is_named_by_its_command_line() -> None:
    port = free_port()
    listen = (f"import socket, time; s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(1); "
              "print('ok', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", listen], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ok\n"
        said = ports.held_by_another(port)
        assert said is not None and said.startswith(f" by pid {holder.pid} ({sys.executable} -c import socket")
    finally:
        holder.kill()
        holder.wait()
