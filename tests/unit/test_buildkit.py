"""BuildKit's progress as the engine sends it (a recorded answer of the real build API), read into the lines a
user sees, and the protobuf wire format it comes in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.formats import protowire
from devstack.images import buildkit

RECORDED = Path(__file__).resolve().parents[1] / "data" / "buildkit" / "failed-run.jsonl"


def recorded_lines() -> tuple[list[str], buildkit.Progress, list[dict[str, object]]]:
    progress, lines, others = buildkit.Progress(), [], []
    for text in RECORDED.read_text().splitlines():
        chunk = json.loads(text)
        if chunk.get("id") == buildkit.TRACE:
            lines += progress.feed(chunk["aux"])
        else:
            others.append(chunk)
    return lines, progress, others


def test_a_failed_run_shows_its_steps_output_and_error_as_the_cli_does() -> None:
    lines, progress, others = recorded_lines()
    run = next(line for line in lines if line.endswith("RUN echo about-to-fail-7f3 && echo more && false"))
    number = run.split()[0]
    assert run == f"{number} [5/5] RUN echo about-to-fail-7f3 && echo more && false"
    # Its output, line by line, then BuildKit's error for it.
    after = lines[lines.index(run) + 1:]
    assert after[:2] == [f"{number} about-to-fail-7f3", f"{number} more"]
    assert after[2].startswith(f"{number} ERROR: executor failed running [/bin/sh -c echo about-to-fail-7f3")
    assert after[2].endswith("exit code: 1")
    # The cached steps say so, each step is numbered once, and the failure names its step as the classic builder.
    assert any(line.endswith("CACHED") for line in lines)
    assert len([line for line in lines if "[1/5] FROM" in line]) == 1
    assert progress.failed == "Step 5/5 : RUN echo about-to-fail-7f3 && echo more && false"
    assert any("error" in chunk for chunk in others)


@pytest.mark.parametrize(("vertex", "step"), [
    ("[2/4] COPY relay.py ./", "Step 2/4 : COPY relay.py ./"),
    ("[build 3/7] RUN make", "Step 3/7 : RUN make (stage build)"),
    ("[internal] load metadata for python:3.11", "[internal] load metadata for python:3.11"),
])
def test_steps_are_named_as_the_classic_builder_names_them(vertex: str, step: str) -> None:
    assert buildkit.step_name(vertex) == step


def test_the_reason_drops_buildkits_wrappers() -> None:
    assert buildkit.reason("failed to solve with frontend dockerfile.v0: failed to create LLB definition: "
                           "dockerfile parse error line 3: unknown instruction: RUNN") == (
        "dockerfile parse error line 3: unknown instruction: RUNN")


def test_a_message_of_another_shape_is_no_progress_but_no_failure_either() -> None:
    assert buildkit.Progress().feed("not base64 at all!") == []
    assert buildkit.Progress().feed("CgE=") == []  # field 1, length 1, truncated


def test_the_wire_format_reads_varints_bytes_and_fixed_fields() -> None:
    # field 1 varint 300, field 2 bytes "hi", field 3 fixed32 7, field 4 fixed64 9
    data = bytes([0x08, 0xAC, 0x02, 0x12, 0x02]) + b"hi" + bytes([0x1D, 7, 0, 0, 0, 0x21]) + (9).to_bytes(8, "little")
    assert list(protowire.fields(data)) == [(1, 300), (2, b"hi"), (3, 7), (4, 9)]
    assert protowire.first(data, 2) == b"hi" and protowire.text(data, 2) == "hi" and protowire.first(data, 9) is None
    with pytest.raises(protowire.WireError):
        list(protowire.fields(bytes([0x12, 0x05]) + b"ab"))
    with pytest.raises(protowire.WireError):
        list(protowire.fields(bytes([0x0B])))  # wire type 3: a group
