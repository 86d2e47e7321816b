"""`[images.NAME] packages`: the list as devstack reads it, every way it can be wrong, and how it decides the build
arg BASE and so the image's content tag. No engine needed: the real builds are in tests/integration."""

from __future__ import annotations

import concurrent.futures
import os
import time
from pathlib import Path

import pytest

from devstack.cli import boundary, main
from devstack.config import packages
from devstack.images import offline_base, package_base, plan
from tests.unit.conftest import Project
from tests.unit.test_offline_base import FakeClient

PACKAGES = "# tools\nhello\n\ncurl   # for checks\nhello\nlibc-bin\n"


def toml(image: str = 'packages = "packages.txt"') -> str:
    return (f'[project]\nname = "demo"\n\n[images.relay]\ncontext = "relay"\n{image}\n\n'
            '[swarm]\nstack_file = "stack.yml"\n')


@pytest.fixture
def listed(project: Project) -> Project:
    project.write("relay/packages.txt", PACKAGES)
    return project


def test_the_list_is_read_sorted_and_without_duplicates(listed: Project) -> None:
    spec = listed.load(toml()).images["relay"]
    assert spec.packages is not None
    assert spec.packages.file == listed.root / "relay/packages.txt"
    assert spec.packages.names == ("curl", "hello", "libc-bin")


def test_order_comments_and_duplicates_do_not_change_the_hash(listed: Project) -> None:
    first = listed.load(toml()).images["relay"].packages
    listed.write("relay/packages.txt", "libc-bin\n# another comment\ncurl\nhello\n")
    second = listed.load(toml()).images["relay"].packages
    assert first is not None and second is not None
    assert first.digest == second.digest
    listed.write("relay/packages.txt", "libc-bin\ncurl\nhello\nbusybox\n")
    third = listed.load(toml()).images["relay"].packages
    assert third is not None and third.digest != first.digest
    assert package_base.offline_tag(third) != package_base.offline_tag(first)
    assert package_base.offline_tag(first) == f"devstack/debian:{first.digest[:12]}"


def test_an_image_without_the_key_has_no_list(project: Project) -> None:
    assert project.load(toml(image="")).images["relay"].packages is None


@pytest.mark.parametrize(("text", "problem"), [
    ("hello\nHello\n", "relay/packages.txt: line 2: 'Hello' is not a Debian package name"),
    ("hello curl\n", "relay/packages.txt: line 1: one package per line, got 'hello curl'"),
    ("hello=2.10-3\n", "relay/packages.txt: line 1: 'hello=2.10-3' is not a Debian package name (lower-case "
                       "letters, digits, '+', '-' and '.', at least two characters; no versions or architectures)"),
    ("x\n", "relay/packages.txt: line 1: 'x' is not a Debian package name"),
    ("# nothing\n\n", "relay/packages.txt: names no package (only blank lines and comments)"),
])
def test_bad_lines_are_reported_with_file_and_line(project: Project, text: str, problem: str) -> None:
    project.write("relay/packages.txt", text)
    assert project.error(toml()).startswith(f"devstack.toml: images.relay.packages: {problem}")


@pytest.mark.parametrize(("image", "problem"), [
    ('packages = "missing.txt"', "file 'relay/missing.txt' does not exist (a path relative to the image's context)"),
    ('packages = "../stack.yml"', "'../stack.yml' must lie inside the image's context 'relay'"),
    ('packages = ["hello"]', "expected a string, got list ['hello']"),
    ('packages = "packages.txt"\nignore = ["*.txt"]',
     "'relay/packages.txt' is excluded from the build context (.dockerignore or `ignore`), "
     "so the Dockerfile cannot COPY it"),
])
def test_a_bad_key_names_the_file_and_the_expectation(listed: Project, image: str, problem: str) -> None:
    assert listed.error(toml(image)) == f"devstack.toml: images.relay.packages: {problem}"


def test_the_cli_exits_2_on_a_bad_list(listed: Project, capsys: pytest.CaptureFixture[str]) -> None:
    listed.write("relay/packages.txt", "Bad_Name\n")
    config = listed.write("devstack.toml", toml())
    for command in (["base-image"], ["ci"]):
        assert boundary.run(main.cli, ["-f", str(config), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: devstack.toml: images.relay.packages: relay/packages.txt: line 1: 'Bad_Name'")


def test_base_is_public_online_or_the_offline_base_and_enters_the_content_tag(listed: Project) -> None:
    spec = listed.load(toml()).images["relay"]
    assert spec.packages is not None
    online = package_base.with_base(spec, package_base.PUBLIC)
    offline = package_base.with_base(spec, None)
    assert online.args == {"BASE": "debian:bookworm-slim"}
    assert offline.args == {"BASE": package_base.offline_tag(spec.packages)}
    assert (package_base.needs_offline(online), package_base.needs_offline(offline)) == (False, True)
    tags = {target.tag for target in plan.scan([online, offline])}
    assert len(tags) == 2  # built online or offline: never the same tag


def test_args_that_set_base_win(listed: Project) -> None:
    spec = listed.load(toml('packages = "packages.txt"\nargs = { BASE = "mine:1" }')).images["relay"]
    assert package_base.with_base(spec, None).args == {"BASE": "mine:1"}
    assert not package_base.needs_offline(package_base.with_base(spec, None))


def test_parse_alone() -> None:
    assert packages.parse("bb\naa\n# c\n aa \n") == ("aa", "bb")


# --- the cached minimal system (a fake debootstrap; real tar) -----------------------------------------------------

FAKE_DEBOOTSTRAP = """#!/bin/sh
# a fake debootstrap: VARIANT SUITE ROOTFS MIRROR; fails when told to, so a cache hit is proven
[ -e "$FAIL" ] && { echo "debootstrap ran" >&2; exit 1; }
mkdir -p "$3/etc" "$3/var/cache/apt/archives"
echo bookworm > "$3/etc/debian_version"
echo deb > "$3/var/cache/apt/archives/libc6_2.36_amd64.deb"
"""


def test_the_minimal_system_is_bootstrapped_once_then_unpacked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "debootstrap").write_text(FAKE_DEBOOTSTRAP)
    (tmp_path / "debootstrap").chmod(0o755)
    monkeypatch.setenv("FAIL", str(tmp_path / "fail"))
    base = package_base.PackageBase(image="devstack/debian:x", packages=("hello",), cache=tmp_path / "cache")
    lines: list[str] = []
    base.bootstrap(str(tmp_path / "debootstrap"), tmp_path / "one", tmp_path / "one.out", lines.append)
    assert (tmp_path / "cache/bookworm-minbase.tar").is_file()
    (tmp_path / "fail").touch()  # from now on debootstrap fails
    base.bootstrap(str(tmp_path / "debootstrap"), tmp_path / "two", tmp_path / "two.out", lines.append)
    assert (tmp_path / "two/etc/debian_version").read_text() == "bookworm\n"
    assert not (tmp_path / "two/var/cache/apt/archives/libc6_2.36_amd64.deb").exists()  # no package files kept
    assert "unpacking the minimal bookworm bootstrapped before" in lines[-1]
    old = time.time() - 8 * 86400
    os.utime(tmp_path / "cache/bookworm-minbase.tar", (old, old))  # a week old: bootstrapped again
    with pytest.raises(offline_base.DebootstrapFailed, match="exit status 1"):
        base.bootstrap(str(tmp_path / "debootstrap"), tmp_path / "three", tmp_path / "three.out", lines.append)


def test_a_second_build_of_the_same_list_waits_then_finds_the_tag(tmp_path: Path) -> None:
    base = package_base.PackageBase(image="devstack/debian:x", packages=("hello",), cache=tmp_path)
    client = FakeClient()
    lines: list[str] = []
    lock = tmp_path / "locks/devstack-debian-x.lock"
    with package_base._locked(lock, lines.append):  # the first build holds the lock
        second = concurrent.futures.ThreadPoolExecutor(1).submit(base.ensure, client, lines.append)  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while not lines and time.monotonic() < deadline:
            time.sleep(0.01)
        assert lines == [f"waiting for another build of the same offline base ({lock})"]
        assert not second.done()
        client.images.present.add("devstack/debian:x")  # the first build imports the tag, then unlocks
    assert second.result(timeout=10) is False  # found it: nothing built twice
    assert client.api.calls == []
