"""The fake API server's long-lived responses: watches and followed logs (chunked JSON lines / text), and the
websocket subresources exec and portforward in the v4.channel.k8s.io protocol:

    every frame: one channel byte, then data. exec: 0 stdin, 1 stdout, 2 stderr, 3 status (a metav1.Status).
    portforward: for the i-th port of `?ports=`, channel 2i carries data and 2i+1 errors; the server first sends
    one frame on each with the port number as 2 bytes, little-endian.
"""

from __future__ import annotations

import contextlib
import io
import json
import select
import shlex
import socket
import tarfile
import threading
import time
from typing import TYPE_CHECKING, Any

import fakekube_ws as ws
from fakekube_store import Json, Kind, Store, matches_labels

if TYPE_CHECKING:
    from fakekube import _Handler

PROTOCOL = "v4.channel.k8s.io"
KUBELET_CONTAINER_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
_open: set[ws.Connection] = set()
_lock = threading.Lock()


def close_all(store: Store) -> None:
    with _lock:
        connections = list(_open)
    for connection in connections:
        connection.close()
        with contextlib.suppress(OSError):
            connection.sock.shutdown(socket.SHUT_RDWR)


# --- chunked streams ------------------------------------------------------------------------------------------------

def watch(handler: _Handler, kind: Kind, namespace: str | None, labels: str, query: dict[str, list[str]]) -> None:
    store = handler.store
    sent = int(query.get("resourceVersion", [""])[0] or store.version)
    deadline = time.monotonic() + float(query.get("timeoutSeconds", ["30"])[0])
    _start_chunked(handler, "application/json")
    if store.expire_next_watch:
        store.expire_next_watch = False
        gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                            "message": "too old resource version"}}
        _chunk(handler, json.dumps(gone).encode() + b"\n")
        return _end_chunked(handler)
    while time.monotonic() < deadline and not store.stopping and not _gone(handler):
        for event in store.events_since(sent):
            sent = event.version
            in_namespace = namespace is None or event.obj["metadata"].get("namespace") == namespace
            wanted = event.kind == kind and in_namespace and matches_labels(event.obj, labels)
            if wanted and not _chunk(handler, json.dumps({"type": event.type, "object": event.obj}).encode() + b"\n"):
                return None
        with store.cond:
            if store.version <= sent:
                store.cond.wait(0.1)
    return _end_chunked(handler)


def subresource(handler: _Handler, kind: Kind, namespace: str, name: str, sub: str, query: dict[str, list[str]],
                headers: dict[str, str]) -> None:
    from fakekube import Status

    pod = handler.store.get(kind, namespace, name)
    if kind.kind != "Pod" or pod is None:
        raise Status(404, f'pods "{name}" not found', "NotFound")
    if sub == "log":
        waiting = _waiting(pod, query.get("container", [pod["spec"]["containers"][0]["name"]])[0])
        if waiting:  # as the API server answers for a container that never ran (its kubelet has no log of it)
            raise Status(400, f'container "{waiting[0]}" in pod "{name}" is waiting to start: {waiting[1]}',
                         "BadRequest")
        return _logs(handler, pod, query)
    if sub == "exec":
        return _exec(handler, pod, query, headers)
    if sub == "portforward":
        return _portforward(handler, pod, query, headers)
    raise Status(404, f"no subresource {sub}")


def _waiting(pod: Json, container: str) -> tuple[str, str] | None:
    """(container, reason) when the container waits and never ran before."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting")
        if status["name"] == container and waiting and not (status.get("lastState") or {}).get("terminated"):
            return container, str(waiting.get("reason", "ContainerCreating"))
    return None


def _logs(handler: _Handler, pod: Json, query: dict[str, list[str]]) -> None:
    store, namespace, name = handler.store, pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = query.get("container", [pod["spec"]["containers"][0]["name"]])[0]
    source = store.previous_logs if query.get("previous", ["false"])[0] == "true" else store.logs
    key = (namespace, name, container)
    lines = list(source.get(key, []))
    if query.get("timestamps", ["false"])[0] == "true":
        times = store.log_times.get(key, []) if source is store.logs else []
        lines = [f"{times[i] if i < len(times) else '2026-01-01T00:00:00.000000000Z'} {line}"
                 for i, line in enumerate(lines)]
    if "sinceTime" in query:
        lines = [line for line in lines if line[:19] >= query["sinceTime"][0][:19]]
    if "tailLines" in query:
        lines = lines[-int(query["tailLines"][0]):] if int(query["tailLines"][0]) else []
    if query.get("follow", ["false"])[0] != "true":
        return handler.send_text(200, "".join(f"{line}\n" for line in lines))
    _start_chunked(handler, "text/plain")
    sent = len(source.get(key, []))
    for line in lines:
        _chunk(handler, f"{line}\n".encode())
    with store.cond:
        cut, store.cut_log_follows = store.cut_log_follows > 0, max(store.cut_log_follows - 1, 0)
    if cut:
        return _end_chunked(handler)
    while not store.stopping and not _gone(handler) and store.get(store.kind_of("Pod"), namespace, name):
        with store.cond:
            new = source.get(key, [])[sent:]
            if not new:
                store.cond.wait(0.1)
                continue
        if query.get("timestamps", ["false"])[0] == "true":
            new = [f"{store.log_times[key][sent + i]} {line}" for i, line in enumerate(new)]
        sent += len(new)
        if not all(_chunk(handler, f"{line}\n".encode()) for line in new):
            return None
    if not store.stopping and not _gone(handler):
        # The pod went while followed: as a kubelet does, the stream's last words are an error of its own, in the
        # body (the response began long ago) and without a timestamp.
        _chunk(handler, f'rpc error: code = NotFound desc = an error occurred when try to find container '
                        f'"{KUBELET_CONTAINER_ID}": not found\n'.encode())
    return _end_chunked(handler)


def _start_chunked(handler: _Handler, content_type: str) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.flush()


def _chunk(handler: _Handler, data: bytes) -> bool:
    try:
        handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.flush()
    except OSError:
        handler.close_connection = True
        return False
    return True


def _end_chunked(handler: _Handler) -> None:
    with contextlib.suppress(OSError):
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def _gone(handler: _Handler) -> bool:
    """The client hung up (a streaming GET sends nothing more, so readable means EOF or reset)."""
    try:
        readable, _, _ = select.select([handler.connection], [], [], 0)
        return bool(readable) and handler.connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


# --- websockets -----------------------------------------------------------------------------------------------------

def _upgrade(handler: _Handler, headers: dict[str, str]) -> ws.Connection | None:
    answer = ws.handshake(headers, (PROTOCOL,))
    if answer is None:
        handler.send_json(400, {"kind": "Status", "status": "Failure", "code": 400,
                                "message": f"websocket upgrade with subprotocol {PROTOCOL} required"})
        return None
    handler.wfile.write(answer[0])
    handler.wfile.flush()
    handler.close_connection = True
    connection = ws.Connection(handler.connection)
    with _lock:
        _open.add(connection)
    return connection


def _release(connection: ws.Connection) -> None:
    connection.close()
    with _lock:
        _open.discard(connection)


def _exec(handler: _Handler, pod: Json, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    connection = _upgrade(handler, headers)
    if connection is None:
        return
    store, namespace, name = handler.store, pod["metadata"]["namespace"], pod["metadata"]["name"]
    container = query.get("container", [pod["spec"]["containers"][0]["name"]])[0]
    command = query.get("command", [])
    store.execs.append((name, container, command))
    files = store.files.setdefault((namespace, name, container), {})
    try:
        # A script of steps (`sh -c "tar … || { …; echo devstack-live-update-step:0 >&2; exit $s; }\n…"`) runs
        # each line's command in turn, as the shell would.
        steps = _script_steps(command[2]) if command[:2] == ["sh", "-c"] else [command]
        for number, step in enumerate(steps):
            if not _run(connection, files, step):
                connection.send(b"\x02" + b"it failed on purpose\n")
                if len(steps) > 1:
                    connection.send(b"\x02" + f"devstack-live-update-step:{number}\n".encode())
                return connection.send(b"\x03" + json.dumps(_failure(1)).encode())
        connection.send(b"\x01" + b"ok\n")
        connection.send(b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode())
    finally:
        _release(connection)


def _script_steps(script: str) -> list[list[str]]:
    return [[word for word in shlex.split(line.split(" || ", 1)[0]) if word != "</dev/null"]
            for line in script.splitlines()]


def _run(connection: ws.Connection, files: dict[str, bytes], command: list[str]) -> bool:
    """One command of an exec; False when it fails (`false` does, on purpose)."""
    if command[:1] == ["tar"]:
        for path, data in _read_tar(connection).items():
            files["/" + path] = data
    elif command[:1] == ["rm"]:
        for path in [a for a in command[1:] if a.startswith("/")]:
            for existing in [p for p in files if p == path or p.startswith(path.rstrip("/") + "/")]:
                del files[existing]
    return command[:1] != ["false"]


def _read_tar(connection: ws.Connection) -> dict[str, bytes]:
    """Read stdin frames until they hold a whole archive (v4 has no end-of-stdin signal; tar has its marker)."""
    data = b""
    while frame := connection.receive():
        if frame.payload[:1] == b"\x00":
            data += frame.payload[1:]
        if len(data) >= 1024 and len(data) % 512 == 0 and data.endswith(b"\0" * 1024):
            with contextlib.suppress(tarfile.TarError), tarfile.open(fileobj=io.BytesIO(data)) as archive:
                return {m.name: (archive.extractfile(m) or io.BytesIO()).read() for m in archive.getmembers()
                        if m.isfile()}
    return {}


def _failure(code: int) -> Json:
    return {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: exit code {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _portforward(handler: _Handler, pod: Json, query: dict[str, list[str]], headers: dict[str, str]) -> None:
    connection = _upgrade(handler, headers)
    if connection is None:
        return
    store, namespace, name = handler.store, pod["metadata"]["namespace"], pod["metadata"]["name"]
    ports = [int(p) for p in query.get("ports", [""])[0].split(",") if p]
    declared = {int(p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports") or []}
    try:
        for index, port in enumerate(ports):
            connection.send(bytes([2 * index]) + port.to_bytes(2, "little"))
            connection.send(bytes([2 * index + 1]) + port.to_bytes(2, "little"))
        while not store.stopping:
            current = store.get(store.kind_of("Pod"), namespace, name)
            if current is None or current["metadata"].get("uid") != pod["metadata"]["uid"]:
                return  # the pod went away: so does the stream, as with a real kubelet
            if not connection.readable(0.05):
                continue
            frame = connection.receive()
            if frame is None:
                return
            _forward(store, connection, name, ports, declared, frame.payload)
    finally:
        _release(connection)


def _forward(store: Store, connection: ws.Connection, pod: str, ports: list[int], declared: set[int],
             payload: bytes) -> None:
    index, data = payload[0] // 2, payload[1:]
    port = ports[index]
    if port not in declared:
        message = f"error forwarding port {port} to pod {pod}: connection refused"
        connection.send(bytes([2 * index + 1]) + message.encode())
        return
    reply: Any = store.port_handlers.get(port, _echo)(pod, data)
    if reply:
        connection.send(bytes([2 * index]) + reply)


def _echo(pod: str, data: bytes) -> bytes:
    return pod.encode() + b"|" + data
