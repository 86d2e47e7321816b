"""Listening sockets. Several workers share one SMTP port through SO_REUSEPORT: the kernel spreads
new connections across their accept queues, with no lock and no hand-off through the parent."""

from __future__ import annotations

import socket

from devstack_sink.options import Address

BACKLOG = 1024  # load generators open connections in bursts; a short queue turns them into RSTs


def _bound(address: Address, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(sockaddr)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def listen(address: Address, *, reuse_port: bool = False) -> socket.socket:
    sock = _bound(address, reuse_port=reuse_port)
    sock.listen(BACKLOG)
    return sock


def reserve(address: Address) -> socket.socket:
    """Bind without listening: holds the port (and resolves port 0) for workers to bind beside it.
    A socket that does not listen takes no connections, so it does not steal the workers' share."""
    return _bound(address, reuse_port=True)


def address_of(sock: socket.socket) -> Address:
    host, port = sock.getsockname()[:2]
    return Address(host, port)
