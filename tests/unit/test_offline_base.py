"""devstack.images.offline_base without root, network or engine: fake debootstrap scripts on PATH, real tar,
and a fake Docker client that reads the streamed import."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from devstack import errors
from devstack.images import offline_base
from devstack.images.offline_base import OfflineBase

FAKE_OK = """#!/bin/sh
# a fake debootstrap: VARIANT INCLUDE SUITE ROOTFS MIRROR
mkdir -p "$4/etc" "$4/var/cache/apt/archives" "$4/var/lib/apt/lists/partial"
echo bookworm > "$4/etc/debian_version"
echo deb > "$4/var/cache/apt/archives/python3_3.11_amd64.deb"
echo index > "$4/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
echo "$@" > "$4/etc/args"
echo "I: Base system installed successfully."
"""

FAKE_FAILING = """#!/bin/sh
mkdir -p "$4/debootstrap"
echo "I: Retrieving InRelease"
echo "E: Couldn't download packages: python3-nope"
echo "dpkg: error processing package python3-nope" > "$4/debootstrap/debootstrap.log"
exit 1
"""


@dataclass
class FakeImages:
    present: set[str]

    def get(self, name: str) -> object:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return object()


@dataclass
class FakeApi:
    images: FakeImages
    imported: bytes = b""
    calls: list[dict[str, Any]] = field(default_factory=list)

    def import_image(self, src: Iterator[bytes], **kwargs: Any) -> str:
        self.imported = b"".join(src)  # consumes the stream as the engine would
        self.calls.append(kwargs)
        self.images.present.add(f"{kwargs['repository']}:{kwargs['tag']}")
        return '{"status":"sha256:abc"}\r\n'


class FakeClient:
    def __init__(self, *present: str) -> None:
        self.images = FakeImages(set(present))
        self.api = FakeApi(self.images)


def fake_debootstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "debootstrap").write_text(script)
    (bin_dir / "debootstrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setattr(os, "geteuid", lambda: 0)


def members(archive: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {name.removeprefix("./") for name in tar.getnames()}


def test_debootstrap_arguments() -> None:
    base = OfflineBase(packages=("python3", "ca-certificates"), mirror="http://mirror.example/debian")
    assert base.debootstrap_args("/usr/sbin/debootstrap", Path("/var/tmp/x/rootfs")) == [
        "/usr/sbin/debootstrap",
        "--variant=minbase",
        "--include=python3,ca-certificates",
        "bookworm",
        "/var/tmp/x/rootfs",
        "http://mirror.example/debian",
    ]


def test_changes_label_the_image_and_set_its_environment() -> None:
    changes = OfflineBase(packages=("python3",)).changes()
    assert "LABEL dev.devstack.base=1" in changes
    assert 'LABEL dev.devstack.base.suite="bookworm" dev.devstack.base.packages="python3"' in changes
    assert {"ENV PYTHONUNBUFFERED=1", "ENV LANG=C.UTF-8"} <= set(changes)
    assert any(c.startswith("ENV PATH=/usr/local/sbin:/usr/local/bin:") for c in changes)


def test_missing_debootstrap_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(offline_base.DebootstrapMissing, match=r"apt-get install -y debootstrap"):
        OfflineBase(workdir=tmp_path / "work").build(FakeClient())
    assert not (tmp_path / "work").exists()


def test_not_root_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_debootstrap(tmp_path, monkeypatch, FAKE_OK)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(offline_base.NotRoot, match="needs root"):
        OfflineBase(workdir=tmp_path / "work").build(FakeClient())


def test_build_streams_the_rootfs_into_an_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_debootstrap(tmp_path, monkeypatch, FAKE_OK)
    client, lines = FakeClient(), list[str]()
    base = OfflineBase(image="devstack/base:test", workdir=tmp_path / "work")
    base.build(client, log=lines.append)
    call = client.api.calls[0]
    assert (call["repository"], call["tag"], call["stream_src"]) == ("devstack/base", "test", True)
    assert call["changes"] == base.changes()
    files = members(client.api.imported)
    assert {"etc/debian_version", "etc/args", "var/lib/apt/lists/partial"} <= files
    assert not any(f.endswith((".deb", "_Packages")) for f in files)  # package caches left out
    assert list((tmp_path / "work").iterdir()) == []  # scratch folder removed
    assert lines[-1] == "built devstack/base:test"


def test_failing_debootstrap_reports_the_tail_of_its_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_debootstrap(tmp_path, monkeypatch, FAKE_FAILING)
    client = FakeClient()
    with pytest.raises(offline_base.DebootstrapFailed) as caught:
        OfflineBase(workdir=tmp_path / "work").build(client)
    message = str(caught.value)
    assert "exit status 1" in message
    assert "Couldn't download packages: python3-nope" in message
    assert "dpkg: error processing package python3-nope" in message
    assert client.api.calls == []
    assert list((tmp_path / "work").iterdir()) == []


def test_a_failing_tar_breaks_the_stream(tmp_path: Path) -> None:
    args = OfflineBase().tar_args(tmp_path / "missing")
    errors = tmp_path / "tar.err"
    with (
        errors.open("wb") as err,
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err) as tar,
        pytest.raises(offline_base.ImportFailed, match="tar failed"),
    ):
        b"".join(offline_base.tar_chunks(tar, errors))


def test_engine_errors_inside_the_import_reply_are_raised() -> None:
    offline_base.check_import_reply('{"status":"sha256:1"}\r\n', "x")
    with pytest.raises(offline_base.ImportFailed, match="no space left"):
        offline_base.check_import_reply('{"status":"x"}\r\n{"error":"no space left"}\r\n', "img")


def test_ensure_builds_only_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(OfflineBase, "build", lambda self, client, log: built.append(self.image))
    base = OfflineBase(image="devstack/base:bookworm")
    assert base.ensure(FakeClient("devstack/base:bookworm")) is False
    assert base.ensure(FakeClient("devstack/base:bookworm"), force=True) is True
    assert base.ensure(FakeClient()) is True
    assert built == ["devstack/base:bookworm", "devstack/base:bookworm"]


def test_exists_translates_engine_errors() -> None:
    class Broken(FakeClient):
        def __init__(self) -> None:
            super().__init__()
            self.images.get = self.fail  # type: ignore[method-assign]

        def fail(self, name: str) -> object:
            raise docker.errors.APIError("500 Server Error")

    with pytest.raises(errors.EngineUnavailable, match="500 Server Error"):
        OfflineBase().exists(Broken())


def test_mounts_under_reads_mountinfo(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch dir"
    escaped = str(scratch).replace(" ", "\\040")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        f"90 22 0:5 /null {escaped}/rootfs/dev/null rw - devtmpfs udev rw\n"
        f"91 22 0:22 / {escaped}/rootfs/proc rw - proc proc rw\n"
        f"92 22 0:23 / {escaped}-other rw - tmpfs tmpfs rw\n"
    )
    assert offline_base.mounts_under(scratch, mountinfo) == [f"{scratch}/rootfs/dev/null", f"{scratch}/rootfs/proc"]


def test_remove_scratch_never_deletes_through_a_mount(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    (scratch / "rootfs" / "proc").mkdir(parents=True)
    mountinfo = tmp_path / "mountinfo"  # claims a mount that `umount` cannot remove (it is not real)
    mountinfo.write_text(f"91 22 0:22 / {scratch}/rootfs/proc rw - proc proc rw\n")
    lines: list[str] = []
    offline_base.remove_scratch(scratch, lines.append, mountinfo)
    assert scratch.exists()
    assert "still mounted" in lines[0]
    mountinfo.write_text("")
    offline_base.remove_scratch(scratch, lines.append, mountinfo)
    assert not scratch.exists()
