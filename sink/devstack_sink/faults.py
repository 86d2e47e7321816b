"""Fault rules: which address, at which SMTP stage, gets which failure.

Text form (flags, environment), one rule:

    [STAGE:]PATTERN:ACTION[,SETTING...][,text=REPLY TEXT]

    STAGE    rcpt (default) | mail | data
    PATTERN  glob on the address, case-insensitive: *@tempfail.test, bob@*; a bare domain
             (tempfail.test, *.example) means every address at it; * means every address
    ACTION   a reply code (451, 550, 421: reply then close), drop (close without a reply),
             or just delay=SECONDS (answer normally, late)
    SETTING  delay=SECONDS, p=PROBABILITY (0..1, default 1)
    text=    the reply text; it must come last and runs to the end of the rule

Several rules are separated by ";" (or newlines). They are tried in order; the first one whose
pattern matches and whose probability roll succeeds applies. JSON form (HTTP /faults): an object
{"match", "stage", "code", "text", "delay", "probability", "drop"}, or a string in the text form.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import random
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal, cast

Stage = Literal["mail", "rcpt", "data"]
STAGES: Final = ("mail", "rcpt", "data")
MAX_DELAY = 3600.0
JSON_KEYS: Final = frozenset({"match", "stage", "code", "text", "delay", "probability", "drop"})

DEFAULT_TEXT: Final = {
    "2": "2.0.0 OK (fault rule of devstack-sink)",
    "4": "4.3.0 Temporary failure injected by devstack-sink",
    "5": "5.7.1 Permanent failure injected by devstack-sink",
}
CLOSING_TEXT = "4.3.2 Closing connection: fault injected by devstack-sink"


class RuleError(ValueError):
    """A rule that cannot be understood; the message says what was expected."""


@dataclasses.dataclass(frozen=True)
class Rule:
    match: str
    stage: Stage = "rcpt"
    code: int | None = None
    text: str = ""
    delay: float = 0.0
    probability: float = 1.0
    drop: bool = False
    _regex: re.Pattern[str] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once: matching runs for every RCPT of every message.
        object.__setattr__(self, "_regex", re.compile(fnmatch.translate(self.match)))

    def matches(self, address: str) -> bool:
        return self._regex.match(address.lower()) is not None

    def fires(self) -> bool:
        return self.probability >= 1.0 or random.random() < self.probability

    @property
    def closes(self) -> bool:
        return self.drop or self.code == 421

    def reply(self) -> str:
        if self.code is None:
            return ""
        default = CLOSING_TEXT if self.code == 421 else DEFAULT_TEXT[str(self.code)[0]]
        return f"{self.code} {self.text or default}"

    def to_json(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields.pop("_regex")
        return fields

    def to_text(self) -> str:
        parts = [str(self.code)] if self.code is not None else []
        parts += ["drop"] if self.drop else []
        parts += [f"delay={self.delay:g}"] if self.delay else []
        parts += [f"p={self.probability:g}"] if self.probability < 1.0 else []
        parts += [f"text={self.text}"] if self.text else []
        return f"{self.stage}:{self.match}:{','.join(parts)}"


def normalize_pattern(pattern: str) -> str:
    pattern = pattern.strip().lower()
    if not pattern or any(c.isspace() for c in pattern):
        raise RuleError(f"expected an address pattern like *@tempfail.test or a domain, got {pattern!r}")
    return pattern if "@" in pattern or pattern == "*" else f"*@{pattern}"


def parse_rules(text: str) -> list[Rule]:
    """Rules separated by ";" or newlines; blank entries are ignored."""
    return [parse_rule(part) for part in re.split(r"[;\n]", text) if part.strip()]


def parse_rule(text: str) -> Rule:
    body = text.strip()
    stage: Stage = "rcpt"
    head = body.split(":", 1)[0].lower()
    if head in STAGES and body.count(":") >= 2:
        stage, body = cast(Stage, head), body.split(":", 1)[1]
    pattern, sep, action = body.partition(":")
    if not sep or not action.strip():
        raise RuleError(f"expected [STAGE:]PATTERN:ACTION such as *@tempfail.test:451, got {text.strip()!r}")
    settings, reply_text = _split_text(action)
    return build_rule(normalize_pattern(pattern), stage, _parse_settings(settings), reply_text)


def _split_text(action: str) -> tuple[str, str]:
    # text= runs to the end of the rule so that reply texts may contain commas.
    found = re.search(r"(?:^|,)\s*text=", action)
    if found is None:
        return action, ""
    return action[: found.start()], action[found.end() :].strip()


def _parse_settings(settings: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for token in (t.strip() for t in settings.split(",") if t.strip()):
        key, eq, value = token.partition("=")
        if not eq and key.isdigit():
            values["code"] = int(key)
        elif not eq and key.lower() == "drop":
            values["drop"] = True
        elif eq and key in ("delay", "p"):
            values["delay" if key == "delay" else "probability"] = _number(value, key)
        else:
            raise RuleError(f"expected a reply code, drop, delay=S, p=P or text=..., got {token!r}")
    return values


def _number(value: str, key: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise RuleError(f"expected a number for {key}=, got {value!r}") from None


def build_rule(match: str, stage: str, values: Mapping[str, Any], text: str = "") -> Rule:
    """Check every field of a rule, whichever form it came in."""
    if stage not in STAGES:
        raise RuleError(f"expected stage mail, rcpt or data, got {stage!r}")
    code, delay = values.get("code"), values.get("delay", 0.0)
    probability, drop = values.get("probability", 1.0), values.get("drop", False)
    if code is not None and (type(code) is not int or not (200 <= code < 300 or 400 <= code < 600)):
        raise RuleError(f"expected a reply code 2xx, 4xx or 5xx, got {code!r}")
    if type(delay) not in (int, float) or not 0 <= delay <= MAX_DELAY:
        raise RuleError(f"expected delay in seconds from 0 to {MAX_DELAY:g}, got {delay!r}")
    if type(probability) not in (int, float) or not 0 <= probability <= 1:
        raise RuleError(f"expected probability from 0 to 1, got {probability!r}")
    if type(drop) is not bool or (drop and (code is not None or text)):
        raise RuleError("expected drop alone (a dropped connection gets no reply code or text)")
    if code is None and not drop and not delay:
        raise RuleError("expected an action: a reply code, drop, or delay=SECONDS")
    if text and (code is None or not text.isprintable()):
        raise RuleError(f"expected text= with a reply code and printable text, got {text!r}")
    return Rule(match, cast(Stage, stage), code, text, float(delay), float(probability), drop)


def rule_from_json(item: object) -> Rule:
    if isinstance(item, str):
        return parse_rule(item)
    if not isinstance(item, dict) or not isinstance(item.get("match"), str):
        raise RuleError(f'expected a rule string or an object with "match", got {item!r}')
    unknown = set(item) - JSON_KEYS
    if unknown:
        raise RuleError(f"unknown rule keys {sorted(unknown)}; expected some of {sorted(JSON_KEYS)}")
    text = item.get("text", "")
    if not isinstance(text, str):
        raise RuleError(f"expected text to be a string, got {text!r}")
    return build_rule(normalize_pattern(item["match"]), item.get("stage", "rcpt"), item, text)


def rules_from_json(document: object) -> list[Rule]:
    """PUT /faults body: {"rules": [...]} or a bare list of rules."""
    items = document.get("rules") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise RuleError('expected {"rules": [...]} or a list of rules')
    return [rule_from_json(item) for item in items]


class FaultBook:
    """The rules live in one worker, with how often each one fired there."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self.replace(rules)

    def replace(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        self.hits = [0] * len(self.rules)
        self._by_stage = {s: [(i, r) for i, r in enumerate(self.rules) if r.stage == s] for s in STAGES}

    def pick(self, stage: Stage, addresses: Iterable[str]) -> Rule | None:
        """The first rule of this stage that matches one of the addresses and wins its roll."""
        candidates = self._by_stage[stage]
        if not candidates:
            return None
        addresses = tuple(addresses)
        for index, rule in candidates:
            if any(rule.matches(a) for a in addresses) and rule.fires():
                self.hits[index] += 1
                return rule
        return None
