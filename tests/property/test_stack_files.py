"""Swarm stack files: the shipped ones mutated, spliced, or replaced by YAML's own traps (aliases that expand
without end, deep nesting, tags, binary): each renders or is refused with the file and the key or line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from devstack.config.model import Forward
from devstack.errors import ConfigError
from devstack.providers.swarm import stackfile
from tests.property import generated
from tests.property.outcome import loads_or_refused

REPO = Path(__file__).resolve().parents[2]
STACKS = ["stacks/demo/stack.yml", "stacks/mailu/stack.offline.yml"]
VARIABLES = {"RELAY_PORT": "8000", "SINK_SMTP_PORT": "2525", "SINK_HTTP_PORT": "8025", "INJECT_USER": "demo",
             "DOMAIN": "mailu.test", "HOSTNAMES": "mail.mailu.test", "SUBNET": "192.168.203.0/24"}
INPUTS = stackfile.Inputs(project="prop", variables=VARIABLES, images={"relay": "relay:1", "sink": "sink:1"},
                          forwards=(Forward("sink", 18025, 8025),), secrets={"inject-password": "prop_secret_1"})
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)) + "services: {s: {}}\n"
TRAPS = st.sampled_from([BOMB, "services: !!python/object:os.system {}\n", "services:\n  s: {image: *x}\n",
                         "\x00\x01", "services: {s: " + "[" * 5000 + "]" * 5000 + "}\n", "- - - " * 400 + "x\n",
                         "services: {1: {image: relay}}\n", "services: {s: {image: 5}}\n", "%YAML 9.9\n---\n"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stacks")
    for stack in STACKS:
        shutil.copytree((REPO / stack).parent, root / Path(stack).parent, dirs_exist_ok=True)
    return root


def _render(folder: Path, stack: str, text: str) -> None:
    path = folder / stack
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    # A forward naming a service the file lacks is the config's mistake: devstack.toml names it.
    loads_or_refused(lambda: stackfile.render(path, stack, INPUTS), stack, "devstack.toml")


@pytest.mark.parametrize("stack", STACKS)
@given(data=st.data())
def test_mutated_stack_files_render_or_are_refused(folder: Path, stack: str, data: st.DataObject) -> None:
    document = yaml.safe_load((REPO / stack).read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        generated.mutate(data, document)
    _render(folder, stack, generated.yaml_text(document))


@pytest.mark.parametrize("stack", STACKS)
@given(cut=st.integers(0, 10_000), length=st.integers(0, 100), insert=st.one_of(generated.SYNTAX_TEXT, TRAPS))
def test_spliced_stack_files_render_or_are_refused(folder: Path, stack: str, cut: int, length: int,
                                                   insert: str) -> None:
    original = (REPO / stack).read_text()
    cut %= len(original) + 1
    _render(folder, stack, original[:cut] + insert + original[cut + length:])


@given(text=st.one_of(TRAPS, st.binary(max_size=200).map(lambda b: b.decode("utf-8", "surrogateescape"))))
def test_yaml_traps_are_refused(folder: Path, text: str) -> None:
    _render(folder, STACKS[0], text)


def test_a_second_document_is_refused_at_the_line_it_starts(folder: Path) -> None:
    # Found by the spliced test: a `%YAML` directive and `---` cut into the demo's stack file made two documents,
    # refused with no line to look at.
    path = folder / STACKS[0]
    path.write_text("services:\n  relay: {image: relay}\n%YAML 1.1\n---\nsecrets: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        stackfile.render(path, STACKS[0], INPUTS)
    assert caught.value.file == f"{STACKS[0]}:3", caught.value  # the second document starts at its directive
    assert "found 2 (the second starts here)" in str(caught.value)
