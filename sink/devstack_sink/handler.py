"""aiosmtpd's event handler: what the sink answers to MAIL, RCPT and the end of DATA, and the faults.

aiosmtpd calls the handle_* hooks; SinkSMTP (smtp.py) calls finish_message after it has streamed a
message away. Counting of envelopes happens here; counting of connections and raw input in smtp.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from devstack_sink import capture, datastream, faults, state

if TYPE_CHECKING:
    from devstack_sink.smtp import SinkSMTP


def refuses(reply: str) -> bool:
    return reply[:1] in ("4", "5")


def accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    """Any AUTH succeeds: MTAs configured with relay credentials can deliver here unchanged."""
    return AuthResult(success=True, auth_data=data)


def _address(peer: Any) -> str:
    """host:port of a TCP peer (asyncio gives a tuple, with more in it for IPv6)."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


class SinkHandler:
    """aiosmtpd's event handler: envelope decisions, fault rules and counting for one worker."""

    def __init__(self, worker: state.WorkerState) -> None:
        self.worker = worker
        self.stats = worker.stats

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """Adds PIPELINING: aiosmtpd handles pipelined commands, but does not say so."""
        session.host_name = hostname  # the 5-argument hook API leaves this to us
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SinkSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self.fault(server, "mail", (address,))
        if refuses(reply):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return reply or "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SinkSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = await self.fault(server, "rcpt", (address,))
        if refuses(reply):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        self.stats.count_recipient(address)
        return reply or "250 2.1.5 OK"

    async def handle_QUIT(self, server: SinkSMTP, session: Session, envelope: Envelope) -> str:
        server.finished = True
        return "221 2.0.0 Bye"

    async def finish_message(self, server: SinkSMTP, message: datastream.Message) -> str:
        """The reply to the final dot; the message itself is already gone."""
        envelope = server.envelope
        assert envelope is not None and server.session is not None
        self.stats.bytes += message.size
        self.stats.long_lines += message.long_line
        queue_id = self.worker.next_queue_id()
        reply = await self._judge(server, envelope, message, queue_id)
        self.worker.capture.record(capture.envelope(
            queue_id, _address(server.session.peer), str(envelope.mail_from), envelope.rcpt_tos, message.size, reply,
            bytes(message.head)))
        return reply

    async def _judge(self, server: SinkSMTP, envelope: Envelope, message: datastream.Message, queue_id: str) -> str:
        limit = server.data_size_limit
        if limit and message.size > limit:
            self.stats.oversize_messages += 1
            return "552 5.3.4 Message size exceeds fixed maximum message size"
        reply = await self.fault(server, "data", envelope.rcpt_tos)
        if refuses(reply):
            return reply
        self.stats.messages += 1
        return reply or f"250 2.0.0 OK: queued as {queue_id} (discarded)"

    async def fault(self, server: SinkSMTP, stage: faults.Stage, addresses: Sequence[str]) -> str:
        """The reply a fault rule imposes at this stage ("" if none applies or it only delays)."""
        rule = self.worker.faults.pick(stage, addresses)
        return "" if rule is None else await self.apply(server, rule)

    async def apply(self, server: SinkSMTP, rule: faults.Rule) -> str:
        """Delay, then reply, close or drop as the rule says; "" means answer as usual."""
        self.stats.faults += 1
        if rule.delay:
            await asyncio.sleep(rule.delay)
        if rule.closes:
            if rule.code is not None:
                await server.push(rule.reply())
            server.close_by_sink()
            # Ends aiosmtpd's session loop with no further reply, the way its own QUIT does.
            raise asyncio.CancelledError
        return rule.reply()
