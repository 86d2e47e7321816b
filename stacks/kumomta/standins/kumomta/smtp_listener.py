"""The kumod stand-in's SMTP listener (kumo.start_esmtp_listener's part of the contract): clients in the relay
hosts may send to any recipient; any other client is refused at RCPT, as KumoMTA refuses a relay it was not
configured for. Accepted messages go to `accept` (the spool), one call per recipient. aiosmtpd runs it on its
own thread and event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiosmtpd.controller import Controller

Accept = Callable[[str, str, bytes], None]  # sender, recipient, message


class Handler:
    def __init__(self, may_relay: Callable[[str], bool], accept: Accept) -> None:
        self.may_relay, self.accept = may_relay, accept

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if not self.may_relay(session.peer[0]):
            return "550 5.7.1 relaying not permitted"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        try:
            for recipient in envelope.rcpt_tos:
                self.accept(envelope.mail_from, recipient, envelope.original_content or envelope.content)
        except OSError as err:
            return f"451 4.3.0 spool: {err.strerror}"
        return "250 OK queued"


def start(listen: tuple[str, int], may_relay: Callable[[str], bool], accept: Accept) -> Controller:
    # A fixed server name: the default looks up this host's FQDN, which can stall without DNS.
    controller = Controller(Handler(may_relay, accept), hostname=listen[0], port=listen[1],
                            server_hostname="kumod-standin", ident="kumod stand-in ESMTP")
    controller.start()
    return controller
