#!/usr/bin/env python3
"""The test cluster's DNS: answers pods' A queries for *.svc.cluster.local from the API's Services and
Endpoints, as CoreDNS's kubernetes plugin does for the names devstack's stacks use:

    SERVICE.NAMESPACE.svc.cluster.local             the ClusterIP; a headless Service: its ready endpoints
    HOSTNAME.SERVICE.NAMESPACE.svc.cluster.local    one endpoint by hostname (a StatefulSet's pods)

Every other name gets NXDOMAIN at once (there is no upstream: the test machine has no network), AAAA and other
types an empty answer. Test infrastructure only (CoreDNS is not packaged in Debian).
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path

from kubeapi import Api

SUFFIX = ".svc.cluster.local"


class Records:
    """name → addresses, never older than `min_age_s`: a Service created, or deleted and created again with another
    ClusterIP, a moment ago resolves to what it is now."""

    def __init__(self, kubeconfig: Path, min_age_s: float = 0.5) -> None:
        self.api = Api(kubeconfig)
        self.min_age_s, self.fetched, self.table = min_age_s, 0.0, {}
        self.lock = threading.Lock()

    def lookup(self, name: str) -> list[str] | None:
        with self.lock:
            if time.monotonic() - self.fetched > self.min_age_s:
                self._refresh()
            return self.table.get(name)

    def _refresh(self) -> None:
        try:
            services = self.api.get("/api/v1/services")["items"]
            endpoints = {(e["metadata"]["namespace"], e["metadata"]["name"]): e
                         for e in self.api.get("/api/v1/endpoints")["items"]}
        except OSError:
            return
        table: dict[str, list[str]] = {}
        for svc in services:
            ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
            base = f"{name}.{ns}{SUFFIX}"
            ip = svc["spec"].get("clusterIP")
            addresses = [a for s in (endpoints.get((ns, name)) or {}).get("subsets") or []
                         for a in s.get("addresses") or []]
            table[base] = [ip] if ip and ip != "None" else [a["ip"] for a in addresses]
            for a in addresses:
                if a.get("hostname"):
                    table.setdefault(f"{a['hostname']}.{base}", []).append(a["ip"])
        self.table, self.fetched = table, time.monotonic()


def answer(query: bytes, records: Records) -> bytes:
    ident, flags = struct.unpack("!HH", query[:4])
    labels, i = [], 12
    while query[i]:
        labels.append(query[i + 1:i + 1 + query[i]].decode("ascii", "replace"))
        i += query[i] + 1
    qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
    question = query[12:i + 5]
    name = ".".join(labels).lower()
    addresses = records.lookup(name) if name.endswith(SUFFIX) else None
    rcode = 3 if addresses is None else 0  # NXDOMAIN, or NOERROR (maybe with no record of this type)
    answers = addresses if (addresses and qtype == 1) else []
    header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
    body = b"".join(b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton(a) for a in answers)
    return header + question + body


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    args = parser.parse_args()
    records = Records(args.kubeconfig)

    class Udp(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            data, sock = self.request
            with contextlib.suppress(IndexError, struct.error):
                sock.sendto(answer(data, records), self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            size = struct.unpack("!H", self.rfile.read(2))[0]
            reply = answer(self.rfile.read(size), records)
            self.wfile.write(struct.pack("!H", len(reply)) + reply)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((args.listen, 53), Udp)
    tcp = socketserver.ThreadingTCPServer((args.listen, 53), Tcp)
    threading.Thread(target=tcp.serve_forever, daemon=True).start()
    udp.serve_forever()


if __name__ == "__main__":
    main()
