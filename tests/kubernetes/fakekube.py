"""A protocol-level fake Kubernetes API server on 127.0.0.1, for the real `kubernetes` client to talk to over HTTP.

It speaks what devstack uses: discovery (/api, /apis, resource lists), get/list/create/delete, server-side
apply (PATCH application/apply-patch+yaml) and strategic-merge patches, label and field selectors, watches
(chunked JSON lines replayed from a resourceVersion), pod logs (tail, previous, follow) and the websocket
subresources exec and portforward (v4.channel.k8s.io). Every request is recorded for assertions.

    server = FakeKube().start()      # server.url, server.store
    ...
    server.stop()
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import fakekube_streams as streams
import yaml
from fakekube_store import Json, Kind, Request, Store, matches_fields, matches_labels

_PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<gv>[^/]+/[^/]+))"
                   r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<plural>[^/]+))?(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")
_PATCH_TYPES = ("application/apply-patch+yaml", "application/strategic-merge-patch+json",
                "application/merge-patch+json")


FAKE = "fakekube"  # the prefix of the fake server's own thread names


class FakeKube:
    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self.store))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fakekube")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeKube:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.store.stop()
        streams.close_all(self.store)
        self._server.shutdown()
        self._server.server_close()

    def requests(self, method: str | None = None, path_prefix: str = "") -> list[Request]:
        return [r for r in list(self.store.requests)
                if (method is None or r.method == method) and r.path.startswith(path_prefix)]


def _handler_class(store: Store) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.store = store
    return Handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms delayed-ACK stall
    store: Store

    def setup(self) -> None:
        threading.current_thread().name = f"{FAKE} request"  # not devstack's: the leak check leaves it alone
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # --- plumbing -----------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.store.requests.append(Request(method, url.path, query, headers, body))
        if method != "GET":
            self.store.on_write(method, url.path)
        try:
            self._route(method, url.path, query, headers, body)
        except _Status as status:
            self.send_json(status.code, status.body())

    def send_json(self, code: int, body: Json) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_text(self, code: int, text: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- routes -------------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> None:
        if path == "/version":
            return self.send_json(200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-fakekube"})
        if path == "/readyz":  # the real server's verbose text, with the check that failed
            if self.store.storage_down:
                return self.send_text(500, "[+]ping ok\n[-]etcd failed: reason withheld\n[+]informer-sync ok\n"
                                           "readyz check failed\n")
            return self.send_text(200, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n")
        if path == "/api":
            return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            return self.send_json(200, _group_list(self.store))
        match = _PATH.match(path)
        if match is None:
            raise _Status(404, f"no route {path}")
        gv, namespace, plural, name, sub = (match["core"] or match["gv"], match["ns"] or "", match["plural"],
                                            match["name"], match["sub"])
        if namespace and plural is None:  # /api/v1/namespaces/NAME is the Namespace itself
            namespace, plural, name = "", "namespaces", namespace
        if plural is None:
            return self.send_json(200, _resource_list(self.store, gv))
        kind = self.store.kinds.get((gv, plural))
        if kind is None:
            raise _Status(404, f"the server could not find the requested resource ({gv} {plural})")
        if sub is not None:
            return streams.subresource(self, kind, namespace, name or "", sub, query, headers)
        if method == "GET" and name is None:
            return self._list(kind, namespace or None, query)
        if method == "GET":
            return self.send_json(200, self._existing(kind, namespace, name or ""))
        if method == "POST":
            return self._create(kind, namespace, json.loads(body))
        if method == "PATCH":
            return self._patch(kind, namespace, name or "", headers.get("content-type", ""), body)
        if method == "DELETE":
            deleted = self.store.delete(kind, namespace, name or "")
            if deleted is None:
                raise _Status(404, f'{kind.plural} "{name}" not found', "NotFound")
            return self.send_json(200, deleted)
        raise _Status(405, f"method {method} not allowed here", "MethodNotAllowed")

    def _list(self, kind: Kind, namespace: str | None, query: dict[str, list[str]]) -> None:
        labels, fields = query.get("labelSelector", [""])[0], query.get("fieldSelector", [""])[0]
        if query.get("watch", ["false"])[0] in ("true", "1"):
            return streams.watch(self, kind, namespace, labels, query)
        items = [o for o in self.store.list(kind, namespace) if matches_labels(o, labels) and
                 matches_fields(o, fields)]
        self.send_json(200, {"kind": f"{kind.kind}List", "apiVersion": kind.group_version,
                             "metadata": {"resourceVersion": str(self.store.version)}, "items": items})

    def _existing(self, kind: Kind, namespace: str, name: str) -> Json:
        found = self.store.get(kind, namespace, name)
        if found is None:
            raise _Status(404, f'{kind.plural} "{name}" not found', "NotFound")
        return found

    def _create(self, kind: Kind, namespace: str, obj: Json) -> None:
        if namespace:
            obj.setdefault("metadata", {})["namespace"] = namespace
        if self.store.get(kind, namespace, obj["metadata"]["name"]) is not None:
            raise _Status(409, f'{kind.plural} "{obj["metadata"]["name"]}" already exists', "AlreadyExists")
        self.send_json(201, self.store.put(obj))

    def _patch(self, kind: Kind, namespace: str, name: str, content_type: str, body: bytes) -> None:
        if content_type not in _PATCH_TYPES:
            raise _Status(415, f"the body of the request was in an unknown format - accepted media types "
                               f"include: {', '.join(_PATCH_TYPES)}", "UnsupportedMediaType")
        patch = yaml.safe_load(body)  # JSON is YAML
        old = self.store.get(kind, namespace, name)
        if content_type.startswith("application/apply-patch"):
            if (patch.get("metadata") or {}).get("name") != name or patch.get("kind") != kind.kind:
                raise _Status(400, "the name or kind of the object does not match the request", "BadRequest")
            obj = _applied(old, patch, namespace if kind.namespaced else "")
        elif old is None:
            raise _Status(404, f'{kind.plural} "{name}" not found', "NotFound")
        else:
            obj = _merged(old, patch)
        if old is not None and old.get("spec") != obj.get("spec"):
            obj["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        self.send_json(200, self.store.put(obj))


def _applied(old: Json | None, patch: Json, namespace: str) -> Json:
    """Server-side apply, simplified: the applied fields replace ours, status and identity are kept."""
    obj = copy.deepcopy(patch)
    metadata = obj.setdefault("metadata", {})
    if namespace:
        metadata["namespace"] = namespace
    if old is not None:
        for key in ("uid", "creationTimestamp", "generation"):
            metadata[key] = old["metadata"][key]
        metadata["annotations"] = {**(old["metadata"].get("annotations") or {}), **(metadata.get("annotations") or {})}
        if "status" in old:
            obj["status"] = old["status"]
    return obj


def _merged(old: Json, patch: Json) -> Json:
    result = copy.deepcopy(old)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merged(result[key], value)
        else:
            result[key] = value
    return result


def _group_list(store: Store) -> Json:
    versions = sorted({k.group_version for k in store.kinds.values() if k.group})
    return {"kind": "APIGroupList", "groups": [
        {"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
         "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}} for gv in versions]}


def _resource_list(store: Store, group_version: str) -> Json:
    kinds = [k for k in store.kinds.values() if k.group_version == group_version]
    if not kinds:
        raise _Status(404, f"no group version {group_version}")
    resources = [{"name": k.plural, "kind": k.kind, "namespaced": k.namespaced, "verbs": list(k.verbs)}
                 for k in kinds]
    resources += [{"name": "pods/log", "kind": "Pod", "namespaced": True, "verbs": ["get"]}] if \
        group_version == "v1" else []
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}


class _Status(Exception):
    def __init__(self, code: int, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.reason = code, message, reason

    def body(self) -> Json:
        return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}


Status = _Status
