"""`outbound`: no mail leaves the machine. A message to a domain outside the stack goes in through the stack's MTA
(after STARTTLS and a login, where the MTA relays for logged-in users only) and must come out at the stack's sink,
found there by its Message-ID. A message the MTA refuses, or one that never reaches the sink, fails the check
naming the MTA: a message relayed elsewhere is on its way to the recipient's real MX.

    accepted   connect, STARTTLS, AUTH, send, until the MTA accepts the message (a refused connection or a 4xx
               answer is retried until the deadline: right after a deploy the MTA may still be starting)
    at sink    from acceptance until the sink's /captured lists the Message-ID

The password is never printed.
"""

from __future__ import annotations

import asyncio
import email.message
import email.utils
import smtplib
import ssl
import time
from typing import Any

import httpx

from devstack import blocking
from devstack.config.smoke import Outbound
from devstack.errors import CheckFailed as Failed
from devstack.networking import clients

_PAUSE_S = 0.2


async def run(options: Outbound, timeout_s: float, timings: dict[str, float]) -> str:
    # Ends a moment before the runner's own timeout, so that a message missing at the sink is said as such.
    deadline = time.monotonic() + max(timeout_s - 1.0, timeout_s * 0.8)
    message_id = email.utils.make_msgid("devstack-outbound", domain="devstack.invalid")
    started = time.monotonic()
    await blocking.call(_send_until_accepted, options, message_id, deadline)
    accepted = time.monotonic()
    timings["accepted"] = accepted - started
    await _until_at_sink(options, message_id, deadline)
    timings["at sink"] = time.monotonic() - accepted
    how = ", ".join(w for w, on in (("STARTTLS", options.starttls), ("logged in", options.username)) if on)
    return (f"{options.recipient} through {options.mta} at {options.host}:{options.port}"
            f"{f' ({how})' if how else ''}, found at the sink by Message-ID")


class _NotYet(Exception):
    """Not accepted yet (a refused or reset connection, a 4xx): try again until the deadline."""


def _send_until_accepted(options: Outbound, message_id: str, deadline: float) -> None:
    while True:
        try:
            _send(options, message_id, deadline)
            return
        except _NotYet as pending:
            if time.monotonic() + _PAUSE_S >= deadline:
                raise Failed(f"{options.mta} to accept a message for {options.recipient}", str(pending)) from None
            blocking.sleep(_PAUSE_S)


def _send(options: Outbound, message_id: str, deadline: float) -> None:
    where = f"{options.mta} at {options.host}:{options.port}"
    try:
        with smtplib.SMTP(options.host, options.port, timeout=max(deadline - time.monotonic(), 0.5)) as smtp:
            smtp.ehlo()
            if options.starttls:
                smtp.starttls(context=_unchecked_tls())  # the stack's own certificate, as a dev stack has
                smtp.ehlo()
            if options.username is not None and options.password is not None:
                smtp.login(options.username, options.password)
            smtp.send_message(_message(options, message_id), options.sender, [options.recipient])
    except smtplib.SMTPRecipientsRefused as err:
        code, reply = next(iter(err.recipients.values()))
        _refused(where, f"RCPT TO:<{options.recipient}>", code, reply)
    except smtplib.SMTPNotSupportedError as err:
        raise Failed(f"{where} to offer what the check asks (STARTTLS, AUTH)", str(err)) from None
    except smtplib.SMTPResponseException as err:
        _refused(where, "the message" if err.smtp_code != 535 else "the login", err.smtp_code, err.smtp_error)
    except (ConnectionError, smtplib.SMTPServerDisconnected) as err:
        raise _NotYet(f"{where}: {type(err).__name__}: {err}") from None
    except OSError as err:
        raise Failed(f"an SMTP server: {where}", f"{type(err).__name__}: {err}") from None


def _message(options: Outbound, message_id: str) -> email.message.EmailMessage:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Message-ID"] = options.sender, options.recipient, message_id
    message["Subject"], message["Date"] = "devstack outbound check", email.utils.formatdate()
    message.set_content("Sent by devstack's outbound smoke test to a domain outside the stack: it must end at the "
                        "stack's sink, never at the recipient's MX.\n")
    return message


def _unchecked_tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    return context


def _refused(where: str, what: str, code: int, reply: bytes | str) -> None:
    said = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = f"{where}: {what} refused: {code} {said}"
    if 400 <= code < 500:
        raise _NotYet(text)
    raise Failed(f"{what} accepted by {where} (it must relay mail for outside domains, to the sink)", text)


async def _until_at_sink(options: Outbound, message_id: str, deadline: float) -> None:
    url = f"{options.sink_url}/captured"
    async with clients.http(5) as client:
        while True:
            found = await _captured(client, url, message_id, options)
            if any(m.get("message_id") == message_id for m in found):
                return
            if time.monotonic() + _PAUSE_S >= deadline:
                raise Failed(f"the message {options.mta} accepted for {options.recipient} ({message_id}) at the "
                             f"sink {url}", f"not there when the time was up: {options.mta} did not relay it to the "
                             "sink, so it may be on its way to the recipient's real MX (check its relayhost)")
            await asyncio.sleep(_PAUSE_S)


async def _captured(client: httpx.AsyncClient, url: str, message_id: str, options: Outbound) -> list[Any]:
    try:
        response = await client.get(url, params={"message_id": message_id})
    except httpx.HTTPError as err:
        raise Failed(f"the sink's capture at {url}", f"{type(err).__name__}: {err}") from None
    if response.status_code != 200:
        raise Failed(f"HTTP 200 from {url} (the sink runs with SINK_CAPTURE above 0)",
                     f"HTTP {response.status_code}: {response.text[:200]}")
    messages = response.json().get("messages", [])
    return messages if isinstance(messages, list) else []
