"""Build contexts: which files go in (as `docker build` would send them), the content digest behind the image tag,
and the tar stream handed to the engine."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from devstack.images import context

REPO = Path(__file__).resolve().parents[2]


def make(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    return make(tmp_path / "ctx", {
        "Dockerfile": "FROM scratch\nCOPY . /app/\n",
        ".dockerignore": "# caches\n*.log\n**/__pycache__\n",
        "app.py": "print('hi')\n",
        "lib/util.py": "X = 1\n",
        "debug.log": "noise\n",
        "lib/__pycache__/util.cpython-311.pyc": "bytecode",
    })


def scan(root: Path, args: dict[str, str] | None = None, ignore: tuple[str, ...] = ()) -> context.Context:
    return context.scan(root, root / "Dockerfile", args or {}, ignore)


def tar_members(ctx_: context.Context) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=ctx_.tar()) as archive:
        return {m.name: m for m in archive.getmembers()}


def tar_file(ctx_: context.Context, name: str) -> bytes:
    with tarfile.open(fileobj=ctx_.tar()) as archive:
        handle = archive.extractfile(name)
        assert handle is not None
        return handle.read()


# --- which files ------------------------------------------------------------------------------------------------------


def test_files_are_the_included_ones_sorted_with_folders(ctx: Path) -> None:
    assert scan(ctx).files == (".dockerignore", "Dockerfile", "app.py", "lib", "lib/util.py")


def test_a_name_without_slash_matches_at_the_top_only(ctx: Path) -> None:
    # Unlike .gitignore: `__pycache__` would leave lib/__pycache__ in; it takes `**/__pycache__`.
    (ctx / ".dockerignore").write_text("__pycache__\n*.log\n")
    assert "lib/__pycache__/util.cpython-311.pyc" in scan(ctx).files


def test_extra_ignore_patterns_add_to_the_dockerignore(ctx: Path) -> None:
    assert scan(ctx, ignore=("lib", ".dockerignore")).files == ("Dockerfile", "app.py")


def test_an_exception_reaches_into_an_excluded_folder(tmp_path: Path) -> None:
    root = make(tmp_path, {"Dockerfile": "", ".dockerignore": "docs\n!docs/README.md\n",
                           "docs/README.md": "", "docs/other.md": "", "docs/sub/x.md": ""})
    # The folder comes along, with its own mode, as BuildKit sends it.
    assert scan(root).files == (".dockerignore", "Dockerfile", "docs", "docs/README.md")


def test_a_glob_exception_reaches_into_an_excluded_folder(tmp_path: Path) -> None:
    # As BuildKit sends it (it walks excluded folders when an exception has wildcards). The classic builder's
    # client skips `node_modules` here; devstack builds from its own tar, so this is what the build gets.
    root = make(tmp_path, {"Dockerfile": "", ".dockerignore": "node_modules\n!**/keep.txt\n",
                           "node_modules/pkg/keep.txt": "", "node_modules/pkg/index.js": ""})
    assert scan(root).files == (".dockerignore", "Dockerfile", "node_modules", "node_modules/pkg",
                                "node_modules/pkg/keep.txt")


def test_a_literal_exception_elsewhere_does_not_open_an_excluded_folder(tmp_path: Path) -> None:
    # BuildKit skips an excluded folder when every exception is a plain path and none lies inside it.
    root = make(tmp_path, {"Dockerfile": "", ".dockerignore": "*\n!src/keep.txt\n", "src/keep.txt": "",
                           "docs/keep.txt": "", "docs/other": ""})
    assert scan(root).files == ("src", "src/keep.txt")


# tonistiigi/fsutil's walk tests, transcribed: (entries to create, exclude patterns, what the walk sends).
FSUTIL_WALKS = {
    "TestWalkerExclude": (["file bar", "dir foo", "file foo2", "file foo/bar2"], ["foo*", "!foo/bar2"],
                          ["bar", "foo", "foo/bar2"]),
    "TestFSWalkNested": (["dir foo", "file foo/bar"], ["foo", "!foo/bar"], ["foo", "foo/bar"]),
    "TestFilteredOpen": (["file foo", "file bar"], ["bar"], ["foo"]),
    "TestFilteredOpenInvert": (["dir foo", "dir foo/bar", "dir foo/bar/baz", "file foo/bar/baz/x",
                                "file foo/bar/baz/y"], ["foo", "!foo/bar", "foo/bar/baz", "!foo/bar/baz/x"],
                               ["foo", "foo/bar", "foo/bar/baz", "foo/bar/baz/x"]),
    "TestWalkerPermissionDenied/**/bar": (["dir foo", "dir foo/bar"], ["**/bar"], ["foo"]),
    "TestWalkerPermissionDenied/!foo/bar/baz": (["dir foo", "dir foo/bar"], ["**/bar", "!foo/bar/baz"], ["foo"]),
}


def create(root: Path, entries: list[str]) -> Path:
    root.mkdir()
    for entry in entries:
        kind, rel = entry.split()
        (root / rel).mkdir() if kind == "dir" else (root / rel).write_text("")
    return root


@pytest.mark.parametrize(("entries", "patterns", "expected"), FSUTIL_WALKS.values(), ids=FSUTIL_WALKS.keys())
def test_fsutil_walks(tmp_path: Path, entries: list[str], patterns: list[str], expected: list[str]) -> None:
    root = create(tmp_path / "ctx", entries)
    dockerfile = make(tmp_path, {"Dockerfile": "FROM scratch\n"}) / "Dockerfile"
    assert list(context.scan(root, dockerfile, {}, tuple(patterns)).files) == expected


# --- folders that cannot be read --------------------------------------------------------------------------------------
# Root reads any folder: the scan runs in a child without the capabilities that let it (setpriv, util-linux).

SCAN = ("import sys; from pathlib import Path; from devstack.images import context; from devstack.errors import "
        "DevstackError\ntry: print(context.scan(Path(sys.argv[1]), Path(sys.argv[2]), {}, tuple(sys.argv[3:])).files)"
        "\nexcept DevstackError as err: print(err)")


def scan_unprivileged(root: Path, dockerfile: Path, patterns: list[str]) -> str:
    drop = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    command = [*drop, sys.executable, "-c", SCAN, str(root), str(dockerfile), *patterns]
    return subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO, timeout=60).stdout.strip()


@pytest.mark.parametrize(("patterns", "expected"), [
    ([], "error"),  # fsutil: "permission denied"
    (["**/bar"], "('foo',)"),
    (["**/bar", "!foo/bar/baz"], "('foo',)"),  # walked into, but excluded: what it cannot read holds nothing
    (["**/bar", "!foo/bar"], "error"),
])
def test_an_unreadable_folder_is_an_error_unless_excluded(tmp_path: Path, patterns: list[str],
                                                          expected: str) -> None:
    root = create(tmp_path / "ctx", ["dir foo", "dir foo/bar"])
    dockerfile = make(tmp_path, {"Dockerfile": "FROM scratch\n"}) / "Dockerfile"
    (root / "foo/bar").chmod(0)
    try:
        output = scan_unprivileged(root, dockerfile, patterns)
    finally:
        (root / "foo/bar").chmod(0o755)
    if expected == "error":
        assert output == (f"{root}/foo/bar: cannot read it for the build context: Permission denied (Docker would "
                          "stop here too; fix its permissions or exclude it in .dockerignore)")
    else:
        assert output == expected


def test_an_unreadable_file_is_an_error(tmp_path: Path) -> None:
    root = create(tmp_path / "ctx", ["file key.pem"])
    dockerfile = make(tmp_path, {"Dockerfile": "FROM scratch\n"}) / "Dockerfile"
    (root / "key.pem").chmod(0)
    assert scan_unprivileged(root, dockerfile, []).startswith(f"{root}/key.pem: cannot read it for the build context")
    assert scan_unprivileged(root, dockerfile, ["*.pem"]) == "()"


def test_empty_folders_are_kept(ctx: Path) -> None:
    (ctx / "empty").mkdir()
    assert "empty" in scan(ctx).files


def test_symlinks_are_entries_not_followed(ctx: Path, tmp_path: Path) -> None:
    outside = make(tmp_path / "outside", {"secret.txt": "s"})
    (ctx / "linked").symlink_to(outside, target_is_directory=True)
    (ctx / "alias.py").symlink_to("app.py")
    files = scan(ctx).files
    assert {"linked", "alias.py"} <= set(files)
    assert not any(f.startswith("linked/") for f in files)
    members = tar_members(scan(ctx))
    assert (members["linked"].issym(), members["linked"].linkname) == (True, str(outside))


def test_the_shipped_relay_context_sends_only_relay_py() -> None:
    relay = REPO / "stacks/demo/relay"
    scanned = context.scan(relay, relay / "Dockerfile", {})
    assert scanned.files == ("relay.py",)
    assert set(tar_members(scanned)) == {"relay.py", "Dockerfile", ".dockerignore"}
    # The daemon drops what this names after reading the Dockerfile: it never lands in the image.
    assert tar_file(scanned, ".dockerignore") == b".dockerignore\nDockerfile\n"


# --- the digest -------------------------------------------------------------------------------------------------------


def test_same_content_same_digest_wherever_it_lies(ctx: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(ctx, copy, symlinks=True)
    assert scan(ctx).digest == scan(ctx).digest == scan(copy).digest


def write(rel: str, text: str) -> Callable[[Path], object]:
    return lambda root: (root / rel).write_text(text)


def chmod(rel: str, mode: int) -> Callable[[Path], object]:
    return lambda root: (root / rel).chmod(mode)


def rename(old: str, new: str) -> Callable[[Path], object]:
    return lambda root: (root / old).rename(root / new)


def mkdir(rel: str) -> Callable[[Path], object]:
    return lambda root: (root / rel).mkdir()


@pytest.mark.parametrize("change", [
    write("app.py", "print('bye')\n"),
    write("new.py", ""),
    write("Dockerfile", "FROM scratch\nCOPY . /srv/\n"),
    write(".dockerignore", "*.log\n"),  # __pycache__ now included
    chmod("app.py", 0o755),
    chmod("app.py", 0o600),  # a key file made private must not reuse an image where it is readable
    rename("app.py", "main.py"),
    mkdir("empty"),
    write(".dockerignore", "*.log\n**/__pycache__\n!lib/__pycache__/util.cpython-311.pyc\n"),
    write(".dockerignore", "*.log\r**/__pycache__\n"),  # one pattern: a lone \r does not end a line
], ids=["content", "new file", "Dockerfile", "dockerignore", "exec bit", "mode 0600", "rename", "empty folder",
        "re-included file", "lone carriage return"])
def test_a_change_that_reaches_the_build_changes_the_digest(ctx: Path, change: Callable[[Path], object]) -> None:
    (ctx / "app.py").chmod(0o644)
    before = scan(ctx).digest
    change(ctx)
    assert scan(ctx).digest != before


@pytest.mark.parametrize("change", [
    write("debug.log", "more noise\n"),
    write("other.log", "new noise\n"),
    write("lib/__pycache__/new.pyc", ""),
], ids=["ignored file edited", "ignored file added", "file in ignored folder"])
def test_a_change_to_ignored_files_keeps_the_digest(ctx: Path, change: Callable[[Path], object]) -> None:
    before = scan(ctx).digest
    change(ctx)
    assert scan(ctx).digest == before


def test_mtime_alone_keeps_the_digest_and_the_tar(ctx: Path) -> None:
    before = scan(ctx)
    for path in ctx.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000), follow_symlinks=False)
    after = scan(ctx)
    assert after.digest == before.digest
    assert after.tar().getvalue() == before.tar().getvalue()


def test_build_args_count_by_value_not_order(ctx: Path) -> None:
    base = scan(ctx, {"BASE": "python:3.11", "X": "1"}).digest
    assert scan(ctx, {"X": "1", "BASE": "python:3.11"}).digest == base
    assert scan(ctx, {"BASE": "python:3.12", "X": "1"}).digest != base
    assert scan(ctx, {"BASE": "python:3.11"}).digest != base
    assert scan(ctx, {}).digest != base


def test_the_mode_of_a_re_included_files_folder_counts(tmp_path: Path) -> None:
    root = make(tmp_path, {"Dockerfile": "", ".dockerignore": "docs\n!docs/README.md\n", "docs/README.md": ""})
    (root / "docs").chmod(0o755)
    before = scan(root).digest
    (root / "docs").chmod(0o700)
    assert scan(root).digest != before
    assert tar_members(scan(root))["docs"].mode == 0o700


def test_symlink_target_counts(ctx: Path) -> None:
    (ctx / "current").symlink_to("app.py")
    before = scan(ctx).digest
    (ctx / "current").unlink()
    (ctx / "current").symlink_to("lib/util.py")
    assert scan(ctx).digest != before


# --- the tar ----------------------------------------------------------------------------------------------------------


def test_tar_holds_exactly_the_included_files(ctx: Path) -> None:
    scanned = scan(ctx)
    members = tar_members(scanned)
    assert list(members) == list(scanned.files)
    assert tar_file(scanned, "app.py") == b"print('hi')\n"
    assert members["lib"].isdir()
    assert all((m.mtime, m.uid, m.gid, m.uname, m.gname) == (0, 0, 0, "", "") for m in members.values())


def test_tar_keeps_the_mode(ctx: Path) -> None:
    (ctx / "app.py").chmod(0o750)
    assert tar_members(scan(ctx))["app.py"].mode == 0o750


def test_an_excluded_dockerfile_is_still_sent(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*\n!app.py\n")
    scanned = scan(ctx)
    assert scanned.files == ("app.py",)
    assert (scanned.dockerfile_in_tar, set(tar_members(scanned))) == (
        "Dockerfile", {"app.py", "Dockerfile", ".dockerignore"})
    assert tar_file(scanned, ".dockerignore") == b".dockerignore\nDockerfile\n"


def test_a_dockerfile_in_a_subfolder_keeps_its_path(ctx: Path) -> None:
    make(ctx, {"docker/Dockerfile.dev": "FROM scratch\n"})
    scanned = context.scan(ctx, ctx / "docker/Dockerfile.dev", {})
    assert scanned.dockerfile_in_tar == "docker/Dockerfile.dev"
    assert tar_file(scanned, "docker/Dockerfile.dev") == b"FROM scratch\n"


def test_a_dockerfile_outside_the_context_goes_into_the_tar(ctx: Path, tmp_path: Path) -> None:
    outside = make(tmp_path / "docker", {"relay.Dockerfile": "FROM scratch\nCOPY app.py /\n"}) / "relay.Dockerfile"
    scanned = context.scan(ctx, outside, {})
    assert scanned.dockerfile_in_tar == context.OUTSIDE_DOCKERFILE
    assert set(tar_members(scanned)) == {*scanned.files, context.OUTSIDE_DOCKERFILE}
    assert tar_file(scanned, context.OUTSIDE_DOCKERFILE) == b"FROM scratch\nCOPY app.py /\n"
    before = scanned.digest
    outside.write_text("FROM scratch\n")
    assert context.scan(ctx, outside, {}).digest != before


def test_tar_is_a_plain_uncompressed_stream(ctx: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(scan(ctx).tar().getvalue()), mode="r:") as archive:  # "r:": uncompressed
        assert archive.getnames()
