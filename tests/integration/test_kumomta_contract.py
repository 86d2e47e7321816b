"""The KumoMTA stand-ins give the answers the real kumod and tsa-daemon gave: every case of
tests/data/kumomta-contract, recorded from KumoMTA itself (stacks/kumomta/README.md, "Verified against KumoMTA
itself"), run against the stand-ins on a network this test creates, beside the real sink, with the stack's own
policy files and environment.

A difference kept on purpose is marked in its case (`stand_in_differs`: why) and listed in stacks/kumomta/README.md
by the case's name; for such a case the test holds that the stand-in does still differ, so that neither the mark
nor the README's list outlives the difference."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration import kumomta_contract as contract
from tests.integration.conftest import REPO, base_image

CASES = contract.load_cases()
README = REPO / "stacks" / "kumomta" / "README.md"


def build(engine: docker.DockerClient, context: Path, tag: str) -> str:
    args = {"BASE": base_image() or "python:3.11-slim-bookworm"}
    engine.images.build(path=str(context), tag=tag, buildargs=args, rm=True)
    return tag


@pytest.fixture(scope="module")
def targets(engine: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[contract.Targets]:
    suffix = uuid.uuid4().hex[:8]
    images = contract.Images(
        kumomta=build(engine, REPO / "stacks" / "kumomta" / "standins" / "kumomta",
                      f"devstack-test/kumomta-standin:{suffix}"),
        sink=build(engine, REPO / "sink", f"devstack-test/sink:{suffix}"), store=None)
    try:
        with contract.running(engine, images, contract.make_keys(tmp_path_factory.mktemp("keys"))) as found:
            yield found
    finally:
        for tag in (images.kumomta, images.sink):
            engine.images.remove(tag, force=True)


def test_every_case_was_recorded_from_kumomta() -> None:
    assert sorted(contract.DATA.glob("*.json")) == sorted(contract.case_files()), "a case file the harness skips"
    unrecorded = [f"{case['file']}: {case['name']}" for case in CASES if "recorded" not in case]
    assert not unrecorded, f"cases without KumoMTA's answer: {unrecorded}"
    failed = [f"{case['file']}: {case['name']}" for case in CASES if "error" in case.get("recorded", {})]
    assert not failed, f"cases KumoMTA's recording could not run: {failed}"


def test_each_kept_difference_is_listed_in_the_readme() -> None:
    text = README.read_text()
    unlisted = [name for case in CASES if case.get("stand_in_differs")
                and (name := f"{case['file']}: {case['name']}") not in text]
    assert not unlisted, f"cases marked stand_in_differs that {README.name} does not name: {unlisted}"


@pytest.mark.parametrize("case", CASES, ids=[f"{c['file'].removesuffix('.json')}-{c['name']}" for c in CASES])
def test_the_stand_ins_answer_as_kumomta_did(targets: contract.Targets, case: dict[str, Any]) -> None:
    answer = contract.run_case(case, targets)
    found = contract.differences(case, answer)
    if case.get("stand_in_differs"):
        assert found, (f"{case['file']}: {case['name']} is marked stand_in_differs ({case['stand_in_differs']}), "
                       "but the stand-in now answers as KumoMTA did: remove the mark and the README's entry")
        return
    assert not found, "\n".join([f"{case['file']}: {case['name']} ({case['about']})", *found])
