"""A stand-in for KumoMTA's tsa-daemon (Traffic Shaping Automation), for the offline variant of devstack's
KumoMTA stack. It is not KumoMTA: it runs no Lua and automates nothing. It serves the two endpoints kumod and the
readiness probe use, on the same port, with the same trust rule:

    tsa-daemon --policy /opt/kumomta/etc/policy/tsa_init.lua
    GET  /get_config_v1/shaping.toml   the shaping overrides TSA generated: none, as TOML comments
    POST /publish_log_v1               kumod's delivery logs: counted, and the count shown in the config

Only clients in KUMOMTA_TSA_TRUSTED_HOSTS (CIDRs, as tsa_init.lua reads them) are answered; others get 403.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import relay
from kumod import Network, networks, stop

CONFIG_PATH = "/get_config_v1/shaping.toml"
PUBLISH_PATH = "/publish_log_v1"
LISTEN = ("0.0.0.0", 8008)


class TsaServer(relay.RelayServer):
    def __init__(self, trusted: tuple[Network, ...]) -> None:
        self.trusted = trusted
        self.records = 0
        self.lock = threading.Lock()
        super().__init__(relay.Config(LISTEN, ("", 0), user="", password=""), TsaHandler)


class TsaHandler(relay.RelayHandler):
    server_version = "tsa-daemon-standin"
    routes: ClassVar[dict[str, str]] = {CONFIG_PATH: "GET", PUBLISH_PATH: "POST"}
    quiet = CONFIG_PATH  # the readiness probe

    def tsa(self) -> TsaServer:
        assert isinstance(self.server, TsaServer)
        return self.server

    def answer(self, path: str) -> None:
        server = self.tsa()
        body = self.read_body() if path == PUBLISH_PATH else b""
        if not any(ipaddress.ip_address(self.client_address[0]) in net for net in server.trusted):
            self.send_json(403, {"error": "not a trusted host (KUMOMTA_TSA_TRUSTED_HOSTS)"})
        elif path == PUBLISH_PATH:
            with server.lock:
                server.records += body.count(b"\n") + 1 if body.strip() else 0
            self.send_text(200, "")
        else:
            self.send_text(200, f"# tsa-daemon stand-in: no shaping overrides generated\n"
                                f"# delivery logs received: {server.records}\n")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tsa-daemon", description="tsa-daemon stand-in (see the docstring)")
    parser.add_argument("--policy", type=Path, required=True, help="the TSA policy file: checked, never run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] = sys.argv[1:]) -> None:
    args = parse_args(argv)
    if not args.policy.is_file():
        raise SystemExit(f"tsa-daemon stand-in: --policy {args.policy}: no such file")
    trusted = networks(os.environ.get("KUMOMTA_TSA_TRUSTED_HOSTS", "127.0.0.1,::1"))
    signal.signal(signal.SIGTERM, stop)
    with TsaServer(trusted) as server:
        print(f"tsa-daemon stand-in (not KumoMTA: {args.policy} is not run) listening on {LISTEN[0]}:{LISTEN[1]}",
              flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
