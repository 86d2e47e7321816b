"""Where is my message: the timeline of a Message-ID from what the sink kept, the daemon's log lines and its smoke
runs, with KumoMTA's X-KumoRef joining a kumod record and, through its spool id, every later record."""

from __future__ import annotations

import base64
import json
from typing import Any

from devstack.observe.logbook import LogBook
from devstack.web import timeline

ID = "<1700000000.42@devstack.test>"


def captured(at: float, *headers: tuple[str, str], sender: str = "demo@devstack.test",
             to: tuple[str, ...] = ("alice@example.test",)) -> dict[str, Any]:
    return {"id": "00000001", "received_at": at, "peer": "10.0.1.3:45368", "mail_from": sender,
            "rcpt_tos": list(to), "size": 359, "reply": "250 2.0.0 OK: queued as 00000001 (discarded)",
            "message_id": ID, "headers": [["Message-ID", ID], *map(list, headers)]}


def run(started: float, seconds: float, *, sender: str = "demo@devstack.test", ok: bool = True) -> dict[str, Any]:
    result = {"name": "inject", "type": "http-inject", "ok": ok, "seconds": seconds, "summary": "2 accepted",
              "expected": "", "got": "", "started": started, "finished": started + seconds,
              "envelope": {"sender": sender, "recipients": ["alice@example.test", "bob@example.test"]}}
    return {"id": 3, "reason": "asked for", "started": started, "finished": started + seconds, "results": [result]}


def test_the_smoke_run_the_log_lines_and_the_arrival_in_time_order() -> None:
    book = LogBook()
    book.add("relay", f"{ID} from=<demo@devstack.test> to=<alice@example.test> sent")
    book.add("relay", "<other@devstack.test> from=<demo@devstack.test> to=<bob@example.test> sent")
    message = captured(book.since(0, 1)[0][0][1] - 0.01)
    lines = timeline.related_lines(timeline.needles(ID, [message]), book.matching)
    entries = timeline.build(ID, [message], lines, [run(message["received_at"] - 0.2, 0.3)])
    assert [e["kind"] for e in entries] == ["smoke", "sink", "log"]
    assert entries[0]["text"] == "inject (http-inject, run 3, asked for) sent it: 2 accepted"
    assert entries[1]["text"].startswith("arrived from 10.0.1.3:45368: MAIL FROM <demo@devstack.test> RCPT TO "
                                         "<alice@example.test>; the sink answered 250")
    assert entries[2]["where"] == "relay" and "other@" not in entries[2]["text"]


def test_a_smoke_run_is_named_only_for_what_it_sent() -> None:
    message = captured(1000.0)
    assert timeline.build(ID, [message], [], [run(900.0, 0.5)]) == timeline.build(ID, [message], [], [])  # too early
    assert [e["kind"] for e in timeline.build(ID, [message], [], [run(999.5, 0.3)])] == ["smoke", "sink"]
    stranger = run(999.5, 0.3, sender="someone@else.test")
    assert [e["kind"] for e in timeline.build(ID, [message], [], [stranger])] == ["sink"]


def test_kumoref_joins_the_kumod_records_of_the_message() -> None:
    ref = base64.b64encode(json.dumps({"_@_": "\\_/", "recipient": "alice@example.test"}).encode()).decode()
    message = captured(1000.0, ("X-KumoRef", ref))
    book = LogBook()
    # kumod's JSON log records: the reception logs the headers the policy asked for, later ones only the spool id.
    book.add("kumod", json.dumps({"type": "Reception", "id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                                  "headers": {"X-KumoRef": ref}}))
    book.add("kumod", json.dumps({"type": "Delivery", "id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
                                  "recipient": "alice@example.test", "response": {"code": 250}}))
    book.add("kumod", json.dumps({"type": "Delivery", "id": "ffffffffffffffffffffffffffffffff"}))
    assert timeline.kumo_ref(message["headers"]) == (ref, {"_@_": "\\_/", "recipient": "alice@example.test"})
    lines = timeline.related_lines(timeline.needles(ID, [message]), book.matching)
    assert [json.loads(line[4])["type"] for line in lines] == ["Reception", "Delivery"]


def test_message_ids_compare_without_brackets_or_case() -> None:
    assert timeline.same_id("<ABC@x.test>", "abc@X.test")
    assert not timeline.same_id("<>", "")
    assert timeline.kumo_ref([["Subject", "x"]]) is None
    assert timeline.kumo_ref([["X-KumoRef", "not base64 json!"]]) == ("not base64 json!", {})


def test_of_two_runs_that_fit_the_one_that_started_last_sent_it() -> None:
    # Seen in CI: two smoke runs 5 s apart, and the second's message arrived within the first's slack.
    message = captured(1005.4)
    earlier, later = run(1000.0, 0.6), {**run(1005.0, 0.6), "id": 4}
    entries = timeline.build(ID, [message], [], [earlier, later])
    assert [e["text"] for e in entries if e["kind"] == "smoke"] == \
        ["inject (http-inject, run 4, asked for) sent it: 2 accepted"]
