"""`smtp`: probe an SMTP port: the 220 banner, the EHLO capabilities (STARTTLS as declared), and an open-relay
check (an unauthenticated outside-to-outside transaction must be refused; swarm deployments of mail stacks
turn into open relays all too easily)."""

from __future__ import annotations

import contextlib
import smtplib
import time

from devstack import blocking
from devstack.config.smoke import Smtp
from devstack.errors import CheckFailed as Failed

_PROBE_SENDER = "relay-probe@devstack-probe.invalid"


async def run(options: Smtp, timeout_s: float, timings: dict[str, float]) -> str:
    return await blocking.call(_probe, options, timeout_s, timings)


def _probe(options: Smtp, timeout_s: float, timings: dict[str, float]) -> str:
    started = time.monotonic()
    where = f"{options.host}:{options.port}"
    try:
        with smtplib.SMTP(timeout=timeout_s) as smtp:
            code, banner = smtp.connect(options.host, options.port)
            timings["banner"] = time.monotonic() - started
            _check_banner(code, banner.decode("utf-8", "replace"), options)
            smtp.ehlo("devstack-smoke.invalid")
            features = sorted(smtp.esmtp_features)
            _check_starttls("starttls" in smtp.esmtp_features, options)
            verdict = _check_relay(smtp, options) if options.relay_check else "relay check off"
    except (OSError, smtplib.SMTPException) as err:
        raise Failed(f"an SMTP server at {where}", f"{type(err).__name__}: {err}") from None
    return f"{where} banner ok, EHLO {' '.join(features) or '(none)'}, {verdict}"


def _check_banner(code: int, banner: str, options: Smtp) -> None:
    if code != 220:
        raise Failed("a 220 greeting", f"{code} {banner}")
    if options.banner is not None and options.banner not in banner:
        raise Failed(f"a banner containing {options.banner!r}", repr(banner))


def _check_starttls(advertised: bool, options: Smtp) -> None:
    if options.starttls is not None and advertised != options.starttls:
        want = "STARTTLS advertised" if options.starttls else "no STARTTLS"
        raise Failed(want, "STARTTLS advertised" if advertised else "no STARTTLS")


def _check_relay(smtp: smtplib.SMTP, options: Smtp) -> str:
    code, reply = smtp.mail(_PROBE_SENDER)
    if code >= 400:
        return f"not an open relay (MAIL refused: {code})"
    recipient = f"relay-probe@{options.relay_domain}"
    code, reply = smtp.rcpt(recipient)
    with contextlib.suppress(smtplib.SMTPServerDisconnected):  # a proxy may hang up once it has refused
        smtp.rset()
    if code < 400:
        text = reply.decode("utf-8", "replace")
        raise Failed(f"RCPT TO:<{recipient}> from an outside sender to be refused (no open relay)",
                     f"{code} {text}: an open relay")
    return f"not an open relay (RCPT refused: {code})"
