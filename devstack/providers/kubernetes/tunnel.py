"""Port forwards the way `kubectl port-forward` makes them since Kubernetes 1.30: one websocket to a pod's
portforward subresource (subprotocol `SPDY/3.1+portforward.k8s.io`, the API server's PortForwardWebsockets),
through which the API server tunnels SPDY to the kubelet, and on it a pair of SPDY streams per forwarded
connection (spdy.py).

Why: the connection to the API server (TCP, TLS, the upgrade, the API server's own connection to the kubelet) is
paid once per pod, not once per forwarded connection; a new connection costs two frames. And the kubelet dials
the pod's port only when a pair of streams arrives, so a tunnel kept open between connections makes no
connection to the pod (the one-websocket-per-connection protocol, v4.channel.k8s.io, dials at the upgrade).

A connection's pair: an error stream (the kubelet writes why it could not reach the port there) and a data stream,
named by one request id. The client sends everything at once, without waiting for the kubelet's replies: the
streams' SYN_STREAMs, the error stream's end, and the client's first bytes.

    tunnels = Tunnels(api)
    channel = await tunnels.channel(namespace, pod, uid, port)   # Refused: no tunnel from this server (before 1.30)
    ...
    await tunnels.close()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from devstack.errors import DeployError
from devstack.providers.kubernetes import spdy, websocket
from devstack.providers.kubernetes.api import Api

PROTOCOL = "SPDY/3.1+portforward.k8s.io"
_REASON_WAIT_S = 2.0  # bounded: a connection's end never waits longer for the kubelet's reason
_BUFFERED = 64  # data frames held per stream before the tunnel waits for its reader (as the kubelet's library)


class Refused(DeployError):
    """The API server did not take the tunnel's subprotocol: it speaks only v4.channel.k8s.io."""


class _Stream:
    """One SPDY stream's incoming side: its data, and how it ended (the other side's FIN or RST_STREAM). An error
    stream keeps what comes (the kubelet's reason) instead of queueing it."""

    def __init__(self, *, error: bool = False) -> None:
        self.error = error
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(_BUFFERED)
        self.ended = self.reset = self.discarded = False
        self.text = b""

    async def deliver(self, payload: bytes) -> None:
        if self.error:
            self.text += payload
        elif payload and not self.discarded:
            await self.queue.put(payload)  # a full queue holds the whole tunnel until this stream is read

    def end(self, *, reset: bool = False) -> None:
        if not self.ended:
            self.ended, self.reset = True, reset
            with contextlib.suppress(asyncio.QueueFull):
                self.queue.put_nowait(None)  # else the reader, not waiting, finds it ended once the queue is empty

    def discard(self) -> None:
        """Nobody reads it any more: what came is dropped, and what comes (a tunnel waiting on it goes on)."""
        self.discarded = True
        while not self.queue.empty():
            self.queue.get_nowait()


class Channel:
    """One forwarded connection: the data stream of a pair (networking/channel.py's Channel)."""

    def __init__(self, tunnel: Tunnel, data_id: int, data: _Stream, error: _Stream, port: int,
                 on_failure: Callable[[], None]) -> None:
        self._tunnel, self._id, self._data, self._error = tunnel, data_id, data, error
        self.pod, self.port = tunnel.pod, port
        self._on_failure = on_failure
        self._sent_fin = self._closed = False

    async def read(self) -> bytes:
        while not self._data.ended or not self._data.queue.empty():
            chunk = await self._data.queue.get()
            if chunk:
                return chunk
            if chunk is None:
                break
        if not self._error.ended and not self._tunnel.broken:
            # The kubelet's reason may come just after the data stream's end (on Kubernetes 1.37, through the API
            # server's tunnel, it mostly does); the error stream ends within a millisecond of the data stream.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._error.queue.get(), _REASON_WAIT_S)
        if self._error.text:  # why the kubelet could not reach the port
            self._on_failure()
            reason = self._error.text.decode("utf-8", "replace").strip()
            raise DeployError(f"forward to {self.pod}:{self.port}: {reason}")
        if self._data.reset or self._tunnel.broken:
            self._on_failure()
        return b""

    async def write(self, data: bytes) -> None:
        if self._data.reset or self._tunnel.broken:
            raise ConnectionResetError(f"the stream to {self.pod}:{self.port} was reset")
        await self._tunnel.send(spdy.data(self._id, data))

    async def write_eof(self) -> None:
        if not self._sent_fin and not self._tunnel.broken:
            self._sent_fin = True
            with contextlib.suppress(ConnectionError, OSError):
                await self._tunnel.send(spdy.data(self._id, b"", fin=True))

    async def close(self) -> None:
        """As kubectl ends a connection: the data stream reset (the pod's side is closed at once), both streams
        forgotten."""
        if self._closed:
            return
        self._closed = True
        self._data.discard()
        if not self._tunnel.broken:
            with contextlib.suppress(ConnectionError, OSError):
                await self._tunnel.send(spdy.rst_stream(self._id))
        self._tunnel.forget(self._id)


class Tunnel:
    """The websocket to one pod, its SPDY streams, and the task that reads it."""

    def __init__(self, ws: websocket.WebSocket, namespace: str, pod: str) -> None:
        self.namespace, self.pod = namespace, pod
        self._ws = ws
        self._compressor = spdy.Compressor()
        self._next_stream, self._next_request = 1, 0
        self._streams: dict[int, _Stream] = {}
        self.broken = False  # the websocket closed or the server said GOAWAY: no new streams
        self._reader = asyncio.create_task(self._read(), name=f"portforward tunnel to {pod}")

    @property
    def idle(self) -> bool:
        return not self._streams

    async def open(self, port: int, on_failure: Callable[[], None] = lambda: None) -> Channel:
        if self.broken:
            raise DeployError(f"the tunnel to pod {self.pod} closed")
        request, error_id, data_id = str(self._next_request), self._next_stream, self._next_stream + 2
        self._next_request, self._next_stream = self._next_request + 1, self._next_stream + 4
        error, data = _Stream(error=True), _Stream()
        self._streams[error_id], self._streams[data_id] = error, data
        headers = {"streamtype": "error", "port": str(port), "requestid": request}
        # Built and sent in one go: stream ids must rise in the order the server sees them, and the header blocks
        # share one compression context.
        await self.send(spdy.syn_stream(error_id, headers, self._compressor) + spdy.data(error_id, b"", fin=True)
                        + spdy.syn_stream(data_id, {**headers, "streamtype": "data"}, self._compressor))
        return Channel(self, data_id, data, error, port, on_failure)

    async def send(self, frames: bytes) -> None:
        try:
            await self._ws.send(frames)
        except (ConnectionError, OSError):
            self.broken = True
            raise

    def forget(self, data_id: int) -> None:
        """A connection ended: its two streams (the error stream's id is two below) are no longer read."""
        for stream in (data_id, data_id - 2):
            self._streams.pop(stream, None)

    async def close(self) -> None:
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    def abort(self) -> None:
        """close() for a caller that cannot wait (the provider's close, maybe from another thread)."""
        loop = self._reader.get_loop()
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._reader.cancel)

    async def _read(self) -> None:
        frames = spdy.Reader()
        try:
            while (message := await self._ws.receive()) is not None:
                for frame in frames.feed(message):
                    await self._frame(frame)
        finally:
            self.broken = True
            for stream in self._streams.values():
                stream.end(reset=True)
            await self._ws.close()

    async def _frame(self, frame: spdy.Frame) -> None:
        if frame.control:
            await self._control(frame)
            return
        stream = self._streams.get(frame.stream)
        if stream is None:
            return  # a connection that ended meanwhile
        await stream.deliver(frame.payload)
        if frame.fin:
            stream.end()

    async def _control(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.RST_STREAM and (stream := self._streams.get(frame.stream)) is not None:
            stream.end(reset=True)
        elif frame.kind == spdy.PING and frame.stream % 2 == 0:  # the server's own ping (ours would be odd)
            await self.send(spdy.ping(frame.stream))
        elif frame.kind == spdy.GOAWAY:
            self.broken = True  # the streams open go on; new ones go through a new tunnel
        # SYN_REPLY, SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do for a port-forward


# A tunnel's key: namespace, pod name and the pod's uid. A StatefulSet's replacement pod has its predecessor's name;
# a tunnel kept by name alone would go on reaching the old pod's closed sandbox.
Key = tuple[str, str, str]


class Tunnels:
    """The tunnel to each pod, opened by the first connection to it and kept while it works."""

    def __init__(self, api: Api) -> None:
        self._api = api
        self._tunnels: dict[Key, Tunnel] = {}
        self._opening: dict[Key, asyncio.Future[Tunnel]] = {}
        self._prepared: set[Key] = set()  # opened ahead for a pod that serves nothing yet (it is not ready)
        self._aborted = False  # the provider closed: a preparation asked for before must open nothing now

    async def channel(self, namespace: str, pod: str, uid: str, port: int,
                      on_failure: Callable[[], None] = lambda: None) -> Channel:
        tunnel = await self._tunnel((namespace, pod, uid))
        return await tunnel.open(port, on_failure)

    async def prepare(self, keys: set[Key]) -> None:
        """Open the tunnels to these pods before a connection needs them, while the pods get ready: the first
        connection after a rollout then costs two frames, not the upgrade. They make no connection to the pods
        (the kubelet dials a port only for a connection's streams). Tunnels prepared before and not among `keys`
        are left to `retire`; one that cannot be opened now is left to the connection that needs it."""
        if self._aborted:
            return
        self._prepared = set(keys)
        for key in keys:
            tunnel = self._tunnels.get(key)
            if tunnel is None or tunnel.broken:
                with contextlib.suppress(DeployError):
                    await self._tunnel(key)

    def retire(self, current: set[Key]) -> None:
        """Close the idle tunnels to pods that serve no target any more (a rollout replaced them), except those
        prepared for pods that are not ready yet."""
        for key, tunnel in list(self._tunnels.items()):
            if key not in current and tunnel.idle and (key not in self._prepared or tunnel.broken):
                del self._tunnels[key]
                tunnel.abort()

    async def close(self) -> None:
        tunnels, self._tunnels = list(self._tunnels.values()), {}
        await asyncio.gather(*(tunnel.close() for tunnel in tunnels))

    def abort(self) -> None:
        self._aborted = True
        tunnels, self._tunnels = list(self._tunnels.values()), {}
        for tunnel in tunnels:
            tunnel.abort()

    async def _tunnel(self, key: Key) -> Tunnel:
        namespace, pod, _uid = key
        tunnel = self._tunnels.get(key)
        if tunnel is not None and not tunnel.broken:
            return tunnel
        opening = self._opening.get(key)
        if opening is None:  # the first of several connections at once opens it for all
            opening = self._opening[key] = asyncio.ensure_future(self._open(namespace, pod))
            opening.add_done_callback(lambda _done: self._opening.pop(key, None))
        tunnel = await asyncio.shield(opening)
        self._tunnels[key] = tunnel
        return tunnel

    async def _open(self, namespace: str, pod: str) -> Tunnel:
        request = self._api.upgrade(f"/api/v1/namespaces/{namespace}/pods/{pod}/portforward", [], PROTOCOL)
        try:
            ws = await websocket.connect(request)
        except websocket.Rejected as err:
            if err.status == 400:  # an API server that does not tunnel refuses the subprotocol
                raise Refused(str(err)) from None
            raise DeployError(self._api.scrub(f"forward to pod {pod}: {err}")) from None
        except DeployError as err:
            raise DeployError(self._api.scrub(f"forward to pod {pod}: {err}")) from None
        if ws.protocol != PROTOCOL:
            await ws.close()
            raise Refused(f"the API server answered with subprotocol {ws.protocol or 'none'!r}")
        return Tunnel(ws, namespace, pod)
