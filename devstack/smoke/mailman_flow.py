"""`mailman-flow`: a post to Mailman's smoke-test list, followed end to end.

Steps, each timed: make sure the list domain exists (REST), that the list `devstack-smoke` exists and has the
member (REST: created on the first run, reused after), post a message with a fresh Message-ID by SMTP to the MTA,
find it delivered to the member at the sink (its Message-ID among the sink's captured headers), and find it in
HyperKitty's archive. A failure names the step, what was expected and what came, and the components whose last log
lines explain it. One well-named list serves every run: a day of saves leaves one list in Postorius and
HyperKitty, not one per run (a deleted list's archive stays in HyperKitty).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import smtplib
import time
import uuid
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx

from devstack import blocking
from devstack.config.smoke import MailmanFlow
from devstack.errors import CheckFailed as Failed
from devstack.networking import clients
from devstack.smoke import retry

_POLL_S = 0.2
SMOKE_LIST = "devstack-smoke"  # the list every run posts to, kept between runs
Step = Callable[[], Awaitable[Any]]


class _Flow:
    def __init__(self, options: MailmanFlow, client: httpx.AsyncClient, deadline: float,
                 timings: dict[str, float]) -> None:
        self.options, self.client, self.deadline, self.timings = options, client, deadline, timings
        self.listname = SMOKE_LIST
        self.address = f"{self.listname}@{options.domain}"
        self.list_id = f"{self.listname}.{options.domain}"
        self.message_id = f"<devstack-{uuid.uuid4().hex}@smoke.devstack.test>"

    def fail(self, step: str, expected: str, got: str, *components: str) -> Failed:
        return Failed(f"[{step}] {expected}", got, tuple(self.options.components[c] for c in components))

    async def timed(self, step: str, action: Step, since: float | None = None) -> Any:
        started = time.monotonic()
        result = await action()
        self.timings[step] = time.monotonic() - (started if since is None else since)
        return result

    async def rest(self, step: str, method: str, path: str, ok: tuple[int, ...], **kwargs: Any) -> httpx.Response:
        options = self.options
        auth = httpx.BasicAuth(options.rest_user, options.rest_password) if options.rest_password else None
        url = f"{options.rest_url}{path}"
        try:
            response = await retry.until_answered(self.deadline, lambda: self.client.request(
                method, url, auth=auth or httpx.USE_CLIENT_DEFAULT, **kwargs))
        except httpx.HTTPError as err:
            raise self.fail(step, f"an answer from {method} {url}", f"{type(err).__name__}: {err}", "core") from None
        if response.status_code not in ok:
            raise self.fail(step, f"HTTP {' or '.join(map(str, ok))} from {method} {url}",
                            f"HTTP {response.status_code}: {response.text.strip()[:200]!r}", "core")
        return response

    async def domain(self) -> None:
        found = await self.rest("domain", "GET", f"/domains/{self.options.domain}", (200, 404))
        if found.status_code == 404:
            await self.rest("domain", "POST", "/domains", (201,), data={"mail_host": self.options.domain})

    async def create_list(self) -> None:
        found = await self.rest("list", "GET", f"/lists/{self.list_id}", (200, 404))
        if found.status_code == 404:
            await self.rest("list", "POST", "/lists", (201,), data={"fqdn_listname": self.address})

    async def subscribe(self) -> None:
        # 409: a member already (an earlier run subscribed it).
        await self.rest("member", "POST", "/members", (201, 409), data={
            "list_id": self.list_id, "subscriber": self.options.member, "pre_verified": "true",
            "pre_confirmed": "true", "pre_approved": "true", "send_welcome_message": "false"})

    async def post(self) -> None:
        message = EmailMessage()
        message["From"], message["To"] = self.options.member, self.address
        message["Subject"], message["Message-ID"] = f"devstack smoke test {self.listname}", self.message_id
        message.set_content("A post from devstack's mailman-flow smoke test.\n")
        try:
            refused = await blocking.call(self._send, message)
        except (OSError, smtplib.SMTPException) as err:
            where = f"{self.options.smtp_host}:{self.options.smtp_port}"
            raise self.fail("post", f"the MTA at {where} to accept the post", f"{type(err).__name__}: {err}",
                            "mta") from None
        if refused:
            raise self.fail("post", f"{self.address} accepted", f"refused: {refused}", "mta")

    def _send(self, message: EmailMessage) -> dict[str, Any]:
        remaining = max(1.0, self.deadline - time.monotonic())
        with smtplib.SMTP(self.options.smtp_host, self.options.smtp_port, timeout=remaining) as smtp:
            return dict(smtp.send_message(message))

    async def delivered(self) -> None:
        url = f"{self.options.sink_url}/captured"
        while True:
            try:
                response = await retry.until_answered(self.deadline, lambda: self.client.get(url))
            except httpx.HTTPError as err:
                raise self.fail("delivered", f"the sink's capture at {url}", f"{type(err).__name__}: {err}",
                                "sink") from None
            if response.status_code != 200:
                raise self.fail("delivered", f"HTTP 200 from {url} (the sink runs with SINK_CAPTURE > 0)",
                                f"HTTP {response.status_code}", "sink")
            if any(self._is_ours(record) for record in response.json().get("messages", [])):
                return
            if time.monotonic() > self.deadline:
                raise self.fail("delivered", f"{self.message_id} delivered to {self.options.member} at the sink",
                                "no such message when the timeout ran out", "mta", "core")
            await asyncio.sleep(_POLL_S)

    def _is_ours(self, record: dict[str, Any]) -> bool:
        ids = {value.strip() for name, value in record.get("headers", []) if name.lower() == "message-id"}
        recipients = {r.lower() for r in record.get("rcpt_tos", [])}
        return self.message_id in ids and self.options.member.lower() in recipients

    async def archived(self, archive_url: str) -> None:
        # HyperKitty's stable id of a message: base32 of the SHA-1 of its Message-ID without the brackets.
        digest = base64.b32encode(hashlib.sha1(self.message_id.strip("<>").encode()).digest()).decode()
        url = f"{archive_url}/api/list/{self.address}/email/{digest}/"
        while True:
            try:
                response = await retry.until_answered(self.deadline, lambda: self.client.get(url))
            except httpx.HTTPError as err:
                raise self.fail("archived", f"an answer from {url}", f"{type(err).__name__}: {err}", "web") from None
            if response.status_code == 200:
                return
            if response.status_code != 404:
                raise self.fail("archived", f"HTTP 200 or 404 from {url}", f"HTTP {response.status_code}", "web")
            if time.monotonic() > self.deadline:
                raise self.fail("archived", f"{self.message_id} in HyperKitty's archive",
                                "not archived when the timeout ran out", "core", "web")
            await asyncio.sleep(_POLL_S)


async def run(options: MailmanFlow, timeout_s: float, timings: dict[str, float]) -> str:
    deadline = time.monotonic() + timeout_s
    async with clients.http(max(timeout_s, 1.0)) as client:
        flow = _Flow(options, client, deadline, timings)
        await flow.timed("domain", flow.domain)
        await flow.timed("list", flow.create_list)
        await flow.timed("member", flow.subscribe)
        await flow.timed("post", flow.post)
        posted = time.monotonic()
        await flow.timed("delivered", flow.delivered, since=posted)
        archive_url = options.archive_url
        if archive_url is not None:
            await flow.timed("archived", lambda: flow.archived(archive_url), since=posted)
    archived = ", archived by HyperKitty" if archive_url else ""
    return f"post to {flow.address} delivered to {options.member} at the sink{archived}"
