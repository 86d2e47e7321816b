"""A snapshot as one HTML page: inline style, no script, no font, no link to anything outside it, so it opens
offline from a CI artifact or a bug report. Every value is escaped."""

from __future__ import annotations

from html import escape
from typing import Any

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em; color: #1d232a; background: #fff; }
h1 { font-size: 1.4em; margin-bottom: .2em; } h2 { font-size: 1.1em; margin-top: 1.8em; }
.meta { color: #5b6670; } .failure { background: #fdecea; border-left: 4px solid #c62828; padding: .6em 1em; }
table { border-collapse: collapse; } td, th { border-bottom: 1px solid #e3e6e8; padding: .3em .8em; text-align: left;
  vertical-align: top; } th { background: #f4f6f7; }
.ok { color: #1b7f3a; } .bad { color: #c62828; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font: 12px/1.4 ui-monospace, monospace; }
.stderr { color: #b3261e; } .time { color: #8a949c; }
"""
_COLUMNS = ("name", "ready", "running", "desired", "build", "deploy", "smoke", "image", "ports", "updated_at",
            "last_error", "message")


def render(snapshot: dict[str, Any]) -> str:
    title = f"devstack snapshot · {snapshot['project']} · {snapshot['taken_at']}"
    parts = [f"<h1>{escape(title)}</h1>", _meta(snapshot), _failure(snapshot), _resources(snapshot["resources"]),
             _smoke(snapshot["smoke"]), _output(snapshot["output"]), _logs(snapshot["logs"])]
    body = "\n".join(part for part in parts if part)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n")


def _meta(s: dict[str, Any]) -> str:
    phase = f" · daemon {escape(str(s['phase']))}" if s.get("phase") else ""
    return (f'<p class="meta">{escape(s["command"])} · provider {escape(s["provider"])} · {escape(s["config"])} · '
            f"devstack {escape(s['devstack'])}{phase}</p>")


def _failure(s: dict[str, Any]) -> str:
    problems = [text for text in (s.get("failure"), s.get("error")) if text]
    return "".join(f'<div class="failure"><pre>{escape(str(text))}</pre></div>' for text in problems)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<td class="{"ok" if value else "bad"}">{"yes" if value else "no"}</td>'
    if key == "smoke" and value in ("ok", "failed"):
        return f'<td class="{"ok" if value == "ok" else "bad"}">{value}</td>'
    text = ", ".join(map(str, value)) if isinstance(value, list) else "" if value is None else str(value)
    return f"<td>{escape(text)}</td>"


def _resources(resources: list[dict[str, Any]]) -> str:
    columns = [c for c in _COLUMNS if any(c in r for r in resources)]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(_cell(c, r.get(c)) for c in columns) + "</tr>\n" for r in resources)
    return f"<h2>Resources</h2>\n<table><tr>{head}</tr>\n{rows}</table>" if resources else \
        "<h2>Resources</h2><p>none deployed</p>"


def _smoke(results: list[dict[str, Any]]) -> str:
    if not results:
        return ""
    rows = []
    for r in results:
        detail = r.get("summary", "") if r.get("ok") else f"expected {r.get('expected', '')}, got {r.get('got', '')}"
        rows.append(f"<tr><td>{escape(str(r.get('name')))}</td><td>{escape(str(r.get('type')))}</td>"
                    f"{_cell('ok', bool(r.get('ok')))}<td>{float(r.get('seconds', 0)):.2f}s</td>"
                    f"<td>{escape(str(detail))}</td></tr>")
    return ("<h2>Smoke tests</h2>\n<table><tr><th>name</th><th>type</th><th>passed</th><th>took</th><th>detail</th>"
            "</tr>\n" + "\n".join(rows) + "</table>")


def _output(lines: list[str]) -> str:
    return f"<h2>What devstack printed</h2>\n<pre>{escape(chr(10).join(lines))}</pre>" if lines else ""


def _logs(logs: dict[str, list[dict[str, str]]]) -> str:
    parts = ["<h2>Logs (the last lines of each resource)</h2>"] if logs else []
    for resource, lines in logs.items():
        shown = "\n".join(f'<span class="time">{escape(line["time"])}</span> '
                          f'<span class="{escape(line["stream"] or "out")}">{escape(line["text"])}</span>'
                          for line in lines)
        parts.append(f"<h3>{escape(resource)}</h3>\n<pre>{shown or '(no lines)'}</pre>")
    return "\n".join(parts)
