"""`imap`: a message goes in by SMTP and comes out by IMAP, matched by its Message-ID.

    smtp      connect to host:smtp_port, send one message to `recipient` until the server accepts it (250)
    login     IMAP LOGIN at host:imap_port as `username`
    delivery  from acceptance until an IMAP search finds the Message-ID in INBOX (the mail server's own path:
              in Mailu, postfix → rspamd milter → dovecot LMTP)
Then the message must carry `expect_headers` (proof that a milter saw it), and it is deleted again, so repeated
runs leave the mailbox as they found it.

Right after a deploy a service may still be starting: a refused connection or a temporary (4xx) SMTP answer is
retried until the test's deadline; a permanent (5xx) answer or a refused login is final. The password is never
printed.
"""

from __future__ import annotations

import contextlib
import email.message
import email.utils
import imaplib
import smtplib
import time
from collections.abc import Callable
from typing import TypeVar

from devstack import blocking
from devstack.config.smoke import Imap
from devstack.errors import CheckFailed as Failed

T = TypeVar("T")
_PAUSE_S = 0.1


async def run(options: Imap, timeout_s: float, timings: dict[str, float]) -> str:
    return await blocking.call(roundtrip, options, time.monotonic() + timeout_s, timings)


def roundtrip(options: Imap, deadline: float, timings: dict[str, float]) -> str:
    message_id = email.utils.make_msgid("devstack-smoke", domain="devstack.invalid")
    started = time.monotonic()
    _until(deadline, lambda: _send(options, message_id, deadline))
    accepted = time.monotonic()
    timings["smtp"] = accepted - started
    imap = _until(deadline, lambda: _login(options, deadline))
    timings["login"] = time.monotonic() - accepted
    try:
        uid = _until_found(imap, message_id, deadline)
        timings["delivery"] = time.monotonic() - accepted
        missing = _missing_headers(imap, uid, options.expect_headers)
        _delete(imap, uid)
    except (OSError, imaplib.IMAP4.error) as err:
        raise Failed("an IMAP session that searches and fetches", f"{type(err).__name__}: {err}") from None
    finally:
        _logout(imap)
    if missing:
        raise Failed(f"headers {', '.join(options.expect_headers)} in the delivered message",
                     f"no {', '.join(missing)}")
    carrying = f" with {', '.join(options.expect_headers)}" if options.expect_headers else ""
    return (f"{options.recipient} via SMTP {options.host}:{options.smtp_port}, found by Message-ID over IMAP "
            f"{options.host}:{options.imap_port}{carrying}")


class _Retry(Exception):
    """Not answered yet (connection refused or reset, a 4xx): try again until the deadline."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def _until(deadline: float, attempt: Callable[[], T]) -> T:
    while True:
        try:
            return attempt()
        except _Retry as pending:
            if time.monotonic() + _PAUSE_S >= deadline:
                raise Failed("an answer before the deadline", pending.what) from None
            blocking.sleep(_PAUSE_S)


def _send(options: Imap, message_id: str, deadline: float) -> None:
    where = f"SMTP {options.host}:{options.smtp_port}"
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Message-ID"] = options.sender, options.recipient, message_id
    message["Subject"], message["Date"] = "devstack smoke test", email.utils.formatdate()
    message.set_content("Sent by devstack's imap smoke test; it deletes this message once it has found it.\n")
    try:
        with smtplib.SMTP(options.host, options.smtp_port, timeout=_left(deadline)) as smtp:
            smtp.send_message(message, options.sender, [options.recipient])
    except smtplib.SMTPRecipientsRefused as err:
        code, reply = next(iter(err.recipients.values()))
        _refused(where, f"RCPT TO:<{options.recipient}>", code, reply)
    except smtplib.SMTPResponseException as err:
        _refused(where, "the message", err.smtp_code, err.smtp_error)
    except (ConnectionError, smtplib.SMTPServerDisconnected) as err:
        raise _Retry(f"{where}: {type(err).__name__}: {err}") from None
    except OSError as err:
        raise Failed(f"an SMTP server at {options.host}:{options.smtp_port}", f"{type(err).__name__}: {err}") from None


def _refused(where: str, what: str, code: int, reply: bytes | str) -> None:
    said = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    text = f"{where}: {what} refused: {code} {said}"
    if 400 <= code < 500:
        raise _Retry(text)
    raise Failed(f"{what} accepted by {where}", text)


def _login(options: Imap, deadline: float) -> imaplib.IMAP4:
    where = f"IMAP {options.host}:{options.imap_port}"
    try:
        imap = imaplib.IMAP4(options.host, options.imap_port, timeout=_left(deadline))
    except (ConnectionError, imaplib.IMAP4.abort) as err:
        raise _Retry(f"{where}: {type(err).__name__}: {err}") from None
    except OSError as err:
        raise Failed(f"an IMAP server at {where}", f"{type(err).__name__}: {err}") from None
    try:
        imap.login(options.username, options.password)
    except (OSError, imaplib.IMAP4.error) as err:
        _logout(imap)
        # imaplib's message is the server's answer, which holds no password.
        raise Failed(f"{where}: login as {options.username} accepted", f"{type(err).__name__}: {err}") from None
    return imap


def _until_found(imap: imaplib.IMAP4, message_id: str, deadline: float) -> str:
    while True:
        imap.select("INBOX")
        _, data = imap.uid("SEARCH", "HEADER", "Message-ID", f'"{message_id}"')
        uids = (data[0] or b"").split()
        if uids:
            return str(uids[-1].decode())
        if time.monotonic() + _PAUSE_S >= deadline:
            raise Failed(f"a message with Message-ID {message_id} in INBOX", "none yet when the time was up")
        blocking.sleep(_PAUSE_S)


def _missing_headers(imap: imaplib.IMAP4, uid: str, expected: tuple[str, ...]) -> list[str]:
    if not expected:
        return []
    _, data = imap.uid("FETCH", uid, "(BODY.PEEK[HEADER])")
    raw = next((part[1] for part in data if isinstance(part, tuple)), b"")
    head = email.message_from_bytes(raw)
    return [name for name in expected if head.get(name) is None]


def _delete(imap: imaplib.IMAP4, uid: str) -> None:
    imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
    imap.expunge()


def _logout(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        imap.logout()


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.5)
