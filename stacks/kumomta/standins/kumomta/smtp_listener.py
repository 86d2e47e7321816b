"""The kumod stand-in's SMTP listener (kumo.start_esmtp_listener's part of the contract), answering as kumod
answers (tests/data/kumomta-contract/smtp.json): the banner "<hostname> KumoMTA", EHLO's "Aloha" and extensions,
"OK EnvelopeAddress(...)" to MAIL and RCPT, relaying only for the relay hosts (others are refused at RCPT),
"OK ids=..." after DATA. Each accepted recipient's copy gets kumod's trace headers (X-KumoRef on top of a
Received header) and goes to `accept` (the spool), which routes it to the sink as init.lua's
smtp_server_message_received does. aiosmtpd runs it on its own thread and event loop.
"""

from __future__ import annotations

import datetime
import email.utils
import uuid
from collections.abc import Callable
from typing import Any

import mime
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

Accept = Callable[[str, str, bytes], None]  # sender, recipient, message
EXTENSIONS = ("PIPELINING", "ENHANCEDSTATUSCODES", "STARTTLS")


class KumoSMTP(SMTP):
    async def smtp_QUIT(self, arg: str) -> None:
        await self.push("221 So long, and thanks for all the fish!")
        self._handler_coroutine.cancel()
        self.transport.close()


class Handler:
    def __init__(self, hostname: str, may_relay: Callable[[str], bool], accept: Accept) -> None:
        self.hostname, self.may_relay, self.accept = hostname, may_relay, accept

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        lines = [f"{self.hostname} Aloha {hostname}", *EXTENSIONS]
        return [f"250{'-' if i < len(lines) - 1 else ' '}{line}" for i, line in enumerate(lines)]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return f'250 OK EnvelopeAddress("{address}")'

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        peer, port = session.peer[:2]
        if not self.may_relay(peer):
            return f"550 5.7.1 relaying not permitted for {peer}:{port}"
        envelope.rcpt_tos.append(address)
        return f'250 OK EnvelopeAddress("{address}")'

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = (envelope.original_content or envelope.content).decode("utf-8", "surrogateescape")
        ids = []
        try:
            for recipient in envelope.rcpt_tos:
                spool = uuid.uuid4().hex
                ids.append(spool)
                message = self.traced(server, session, recipient, spool, data)
                self.accept(envelope.mail_from, recipient, message.encode("utf-8", "surrogateescape"))
        except OSError as err:
            return f"451 4.3.0 spool: {err.strerror}"
        return f"250 OK ids={' '.join(ids)}"

    def traced(self, server: Any, session: Any, recipient: str, spool: str, data: str) -> str:
        stamp = email.utils.format_datetime(datetime.datetime.now(datetime.UTC))
        mine = (server.transport.get_extra_info("sockname") or ("",))[0]
        received = (f"Received: from {session.host_name or 'unspecified'} ({session.peer[0]})\r\n"
                    f"  by {self.hostname} (KumoMTA {mine}) \r\n  with ESMTP id {spool} for <{recipient}>;\r\n"
                    f"  {stamp}\r\n")
        return f"X-KumoRef: {mime.kumo_ref(recipient)}\r\n{received}{mime.crlf(data)}"


class KumoController(Controller):
    def factory(self) -> SMTP:
        return KumoSMTP(self.handler, hostname=self.handler.hostname, ident="KumoMTA", **self.SMTP_kwargs)


def start(listen: tuple[str, int], hostname: str, may_relay: Callable[[str], bool], accept: Accept) -> Controller:
    controller = KumoController(Handler(hostname, may_relay, accept), hostname=listen[0], port=listen[1])
    controller.start()
    return controller
