"""Dev secrets: random values generated once per project on this machine, kept outside the repository.

They live in $XDG_STATE_HOME/devstack/<project>/secrets.json (default ~/.local/state/devstack/<project>/),
readable by the owner only, so a `git add .` can never pick them up and every `up` reuses the same values (a
database keeps working across redeploys). Providers turn them into Kubernetes Secrets or swarm secrets.

A value never reaches a log line, a status or an error message: `Secret` hides it from repr and str, and one
redactor, `redact`, knows every value this process loaded; the output boundary (the console, the CLI's error
boundary, `status`, `logs --json`, the control API, recordings) passes every line through it, whoever produced
the line (a service's log, an engine's error, a readiness report).
"""

from __future__ import annotations

import json
import os
import secrets as random
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from devstack.config.model import Secret, SecretSpec
from devstack.errors import DevstackError

__all__ = ["FILENAME", "REDACTED", "Redactor", "Secret", "compose", "load", "redact", "state_dir"]

FILENAME = "secrets.json"
REDACTED = "[redacted]"


def state_dir(project: str, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "devstack" / project


def load(project: str, specs: Sequence[SecretSpec], *, directory: Path | None = None) -> dict[str, Secret]:
    """The project's secrets by name: the stored values, and new random ones for those not stored yet.

    A stored value is kept while it still fits its spec; one whose length or alphabet changed is generated anew.
    A `template` spec's value is its template, already interpolated with the other secrets' values.
    """
    if not specs:
        return {}
    path = (directory or state_dir(project)) / FILENAME
    stored = _read(path)
    values = {spec.name: stored[spec.name] if _fits(stored.get(spec.name), spec) else _generate(spec)
              for spec in specs if spec.template is None}
    if any(stored.get(name) != value for name, value in values.items()):
        _write(path, {**stored, **values})
    # A template was composed from the others when the config was read: nothing to generate or store.
    return compose(specs, values)


def compose(specs: Sequence[SecretSpec], values: Mapping[str, str]) -> dict[str, Secret]:
    """Each spec's Secret: its generated value from `values`, or its template (already interpolated). Every value
    becomes known to the process's redactor."""
    loaded = {spec.name: Secret(spec.name, spec.key, spec.template if spec.template is not None else values[spec.name])
              for spec in specs}
    _REDACTOR.add(secret.value for secret in loaded.values())
    return loaded


class Redactor:
    """Replaces every secret value in a text with [redacted], as written, as Python quotes it and as JSON writes
    those."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str]) -> None:
        found = set(self._values)
        for value in (v for v in values if v):
            # As written, as Python quotes it (an error message that shows a value with repr), and each of those as
            # JSON writes it (an answer, an event, a snapshot).
            for form in {value, repr(value)[1:-1]}:
                found |= {form, json.dumps(form, ensure_ascii=False)[1:-1], json.dumps(form)[1:-1]}
        # Longest first, so a value that contains another is replaced whole. One assignment: a reader on another
        # thread sees the old list or the new one.
        self._values = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def lines(self, lines: Iterable[str]) -> list[str]:
        return [self(line) for line in lines]


_REDACTOR = Redactor()  # every value loaded in this process


def redact(text: str) -> str:
    """`text` with every dev secret this process loaded replaced by [redacted]: what every output passes."""
    return _REDACTOR(text)


def _generate(spec: SecretSpec) -> str:
    return "".join(random.choice(spec.alphabet) for _ in range(spec.length))


def _fits(value: str | None, spec: SecretSpec) -> bool:
    return value is not None and len(value) == spec.length and set(value) <= set(spec.alphabet)


def _read(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        # Never quote the content: it holds the values.
        reason = err.strerror if isinstance(err, OSError) else "not valid JSON"
        raise DevstackError(f"cannot read the dev secrets in {path}: {reason}; fix or delete the file (devstack "
                            "then generates new values)") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DevstackError(f"{path}: expected a JSON object of name → string; fix or delete the file")
    return data


def _write(path: Path, values: dict[str, str]) -> None:
    """Atomically, created 0600 from the start: there is no moment when another user could read it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secrets-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(values, file, indent=2, sort_keys=True)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
