"""The one door to a Kubernetes API server. The `kubernetes` client is built here from one explicit kubeconfig
context (never the ambient current-context), and its errors become devstack errors here.

devstack works on plain JSON objects, whatever their kind (custom resources included), so requests go through
the client's generic transport (auth, TLS, proxies from the kubeconfig) rather than its typed models (building
those takes seconds of CPU). Exec and port-forward open devstack's own asyncio websocket (websocket.py) from
`upgrade()`, with the same address, TLS and credentials.

    EngineUnavailable    the kubeconfig, its context or the API server cannot be reached
    ApiError(DeployError) the server answered with an error status; `.status` holds the HTTP code
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as kube_client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from devstack.errors import ApiError, EngineUnavailable
from devstack.providers.kubernetes import websocket

Json = dict[str, Any]
Query = Sequence[tuple[str, str]]
Scrub = Callable[[str], str]  # removes secret values from server messages
_TIMEOUT_S = 30.0
_POOL_SIZE = 4
_READYZ_S = 5.0  # the readiness probe of every observation window: an answer within seconds, or the server is away
APPLY_PATCH = "application/apply-patch+yaml"


def kubeconfig_files(explicit: Path | None) -> str:
    """What the client reads: the configured file, else $KUBECONFIG (may list several), else ~/.kube/config."""
    if explicit is not None:
        return str(explicit)
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def contexts(files: str) -> list[str]:
    """The context names of the kubeconfig; [] when there is no kubeconfig yet."""
    try:
        found, _current = kube_config.list_kube_config_contexts(config_file=files)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError):
        return []
    return [str(c["name"]) for c in found or []]


def connect(context: str, kubeconfig: Path | None, scrub: Scrub = str) -> Api:
    files = kubeconfig_files(kubeconfig)
    known = contexts(files)
    if context not in known:
        listed = ", ".join(known) if known else "none"
        raise EngineUnavailable(f"kubeconfig {files} has no context {context!r} (its contexts: {listed}); "
                                "create the cluster, or set kubernetes.context / kubernetes.kubeconfig")
    configuration = kube_client.Configuration()
    try:
        # persist_config=False: devstack never writes to the user's kubeconfig.
        kube_config.load_kube_config(config_file=files, context=context,  # type: ignore[no-untyped-call]
                                     client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError) as err:
        raise EngineUnavailable(f"cannot use context {context!r} of {files}: {err}") from None
    # The connections kept open between requests: the client's default is five per CPU (40 on an 8-core laptop),
    # each an open connection to the API server for as long as the daemon runs. Watches and log streams hold
    # their own; a few are enough for the short requests in between.
    configuration.connection_pool_maxsize = _POOL_SIZE
    return Api(kube_client.ApiClient(configuration=configuration), context, scrub)


class Api:
    def __init__(self, api_client: kube_client.ApiClient, context: str, scrub: Scrub = str) -> None:
        self.client = api_client
        self.context = context
        self.scrub = scrub
        self._tls: ssl.SSLContext | None = None

    @property
    def host(self) -> str:
        return str(self.client.configuration.host)

    def close(self) -> None:
        """Close the connections kept for reuse (a request still under way closes its own when it ends)."""
        self.client.rest_client.pool_manager.clear()

    def call(self, method: str, path: str, *, query: Query = (), body: Json | None = None,
             content_type: str = "application/json", timeout_s: float = _TIMEOUT_S,
             warnings: list[str] | None = None) -> Json:
        """The response's JSON; the server's warnings (a deprecated field the body sets) are added to `warnings`
        when given, and dropped otherwise: they never reach the output on their own."""
        response = self._send(method, path, query, body, content_type, timeout_s)
        data = self._read(response)
        self._check(response, data, method, path)
        if warnings is not None:
            warnings.extend(server_warnings(response.headers.getlist("Warning")))
        return json.loads(data) if data else {}

    def get(self, path: str, query: Query = ()) -> Json | None:
        try:
            return self.call("GET", path, query=query)
        except ApiError as err:
            if err.status == 404:
                return None
            raise

    def text(self, path: str, query: Query = (), timeout_s: float = _TIMEOUT_S) -> str:
        """A plain-text endpoint (pod logs)."""
        response = self._send("GET", path, query, None, "application/json", timeout_s)
        data = self._read(response)
        self._check(response, data, "GET", path)
        return data.decode("utf-8", "replace")

    def storage_down(self) -> str:
        """The API server's own readiness checks of its storage that fail now ("[-]etcd failed: ..."), "" when
        they pass. /version answers while etcd is down, and reads then hang or fail one by one: this says why at
        once. Other failing checks, and a server that does not let us read /readyz, count as ready: only a check
        of etcd is taken to mean that nothing can be read or written."""
        response = self._send("GET", "/readyz", (("verbose", "1"),), None, "application/json", _READYZ_S)
        text = self._read(response).decode("utf-8", "replace")
        if response.status < 500:
            return ""
        return "; ".join(line for line in text.splitlines() if line.startswith("[-]etcd"))

    def upgrade(self, path: str, query: Query, protocol: str) -> websocket.Request:
        """How to open a websocket to a streaming subresource (a pod's portforward): the API server's address,
        TLS as the kubeconfig says, and the same credentials as every other request."""
        _method, url, headers, _body, _post = self.client.param_serialize(
            method="GET", resource_path=path, query_params=list(query), header_params={},
            auth_settings=["BearerToken"])
        parsed = urllib.parse.urlsplit(url)
        secure = parsed.scheme == "https"
        if secure and self._tls is None:
            self._tls = _tls_context(self.client.configuration)
        configuration = self.client.configuration
        return websocket.Request(
            host=parsed.hostname or "localhost", port=parsed.port or (443 if secure else 80),
            target=parsed.path + (f"?{parsed.query}" if parsed.query else ""), protocol=protocol,
            tls=self._tls if secure else None,
            server_hostname=getattr(configuration, "tls_server_name", None) or parsed.hostname,
            headers={k: v for k, v in headers.items() if k.lower() not in ("content-type", "accept")})

    def stream(self, path: str, query: Query, timeout_s: float | None = None) -> Stream:
        """A long response read line by line: a watch, or logs with follow=true."""
        response = self._send("GET", path, query, None, "application/json", timeout_s, stream=True)
        if response.status >= 400:
            self._check(response, self._read(response), "GET", path)
        return Stream(response)

    def _send(self, method: str, path: str, query: Query, body: Json | None, content_type: str,
              timeout_s: float | None, *, stream: bool = False) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _method, url, headers, _body, _post = self.client.param_serialize(
            method=method, resource_path=path, query_params=list(query), header_params=headers,
            auth_settings=["BearerToken"])
        # A watch may stay quiet for long: then only the connect has a deadline.
        timeout: float | tuple[float, float | None] = (10.0, timeout_s) if stream else (timeout_s or _TIMEOUT_S)
        try:
            # The body goes as JSON, which is also YAML: the server takes it as an apply patch too.
            # The class's call_api, not the instance's: the client library's stream() (exec, port-forward) swaps the
            # instance's for a websocket request while it connects, which a concurrent call here must not use.
            rest = kube_client.ApiClient.call_api(self.client, method, url, header_params=headers, body=body,
                                                  _request_timeout=timeout)
        except (urllib3.exceptions.HTTPError, ApiException, OSError) as err:
            raise EngineUnavailable(self._unreachable(err)) from None
        response: urllib3.BaseHTTPResponse = rest.response
        return response

    def _read(self, response: urllib3.BaseHTTPResponse) -> bytes:
        try:
            return bytes(response.data)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise EngineUnavailable(self._unreachable(err)) from None
        finally:
            response.release_conn()

    def _check(self, response: urllib3.BaseHTTPResponse, data: bytes, method: str, path: str) -> None:
        if response.status < 400:
            return
        message = websocket.status_message(data) or response.reason or "error"
        raise ApiError(response.status, self.scrub(f"{method} {path}: {response.status} {message}"))

    def _unreachable(self, err: BaseException) -> str:
        reason = str(getattr(err, "reason", None) or err).splitlines()[0][:200]
        return (f"cannot reach the Kubernetes API of context {self.context!r} at {self.host}: {reason}\n"
                "  is the cluster running? (`kubectl --context " + self.context + " cluster-info`)")


class Stream:
    """The lines of a streaming response. `close()` from another thread ends a blocked read at once; the reading
    thread then closes the response itself (closing it under a reader races with the read)."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._lock = threading.Lock()
        self._reading = False
        self.closed = False

    def lines(self) -> Iterator[str]:
        with self._lock:
            if self.closed:
                return
            self._reading = True
        buffer = b""
        try:
            for chunk in self._response.stream(amt=None, decode_content=False):
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                for line in complete:
                    yield line.decode("utf-8", "replace")
            if buffer:
                yield buffer.decode("utf-8", "replace")
        except Exception as err:
            if self.closed:
                return  # whatever the interrupted read raised: we asked for it
            if isinstance(err, (urllib3.exceptions.HTTPError, OSError, ValueError)):
                raise EngineUnavailable("the connection to the Kubernetes API broke during a watch") from None
            raise
        finally:
            with contextlib.suppress(Exception):
                self._response.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            reading = self._reading
        # Shut the socket down so a thread blocked in a read wakes up.
        connection = getattr(self._response, "connection", None)
        sock = getattr(connection, "sock", None)
        with contextlib.suppress(OSError):
            if isinstance(sock, socket.socket):
                sock.shutdown(socket.SHUT_RDWR)
        if not reading:
            with contextlib.suppress(Exception):
                self._response.close()


def _tls_context(configuration: kube_client.Configuration) -> ssl.SSLContext:
    """The kubeconfig's TLS settings (its CA, client certificate, insecure-skip-tls-verify) as an SSLContext; the
    client library writes inline certificate data to files first, so paths are all there is to read."""
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    return context


def server_warnings(headers: Sequence[str]) -> list[str]:
    """The texts of an API server's `Warning: 299 - "text"` headers (RFC 7234's form, which it always uses)."""
    texts = []
    for header in headers:
        code, _, rest = header.partition(" ")
        _agent, _, text = rest.partition(" ")
        if code == "299" and text.startswith('"'):
            texts.append(text[1:].rsplit('"', 1)[0].replace('\\"', '"'))
    return texts


def typed_items(found: Json) -> list[Json]:
    """A list response's items as whole objects. A real API server leaves `kind` and `apiVersion` off the items
    (they are on the list: `PodList`), while watch events and GETs carry them; put them back, so that every
    caller sees the same objects whichever way they came."""
    kind = str(found.get("kind", "")).removesuffix("List")
    items: list[Json] = found.get("items") or []
    if not kind:
        return items
    return [item if "kind" in item else {"kind": kind, "apiVersion": found.get("apiVersion", ""), **item}
            for item in items]
