"""Bootstrap devstack's base image from Debian packages, with no container registry.

CI reaches Debian's mirror but no registry, and containers have no network. So the base image is made the old
way: debootstrap a minimal Debian into a scratch folder, then stream it as a tar into the engine's image import:

    debootstrap --variant=minbase --include=python3,ca-certificates,... bookworm ROOTFS http://deb.debian.org/debian
    tar -C ROOTFS -c . | docker import --change 'LABEL dev.devstack.base=1' ... - devstack/base:bookworm

It takes about a minute and needs root (debootstrap chroots and makes device nodes), so `ensure` builds only
when the image is missing. The scratch folder is removed afterwards, failure or not.

Its errors (OfflineBaseError and its subclasses) are in devstack/errors.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import docker.utils

from devstack.errors import (
    DebootstrapFailed,
    DebootstrapMissing,
    EngineUnavailable,
    ImportFailed,
    NotRoot,
)
from devstack.images import docker_engine

DEFAULT_IMAGE = "devstack/base:bookworm"
LABEL_BASE = "dev.devstack.base"
_TAIL_LINES = 20
_CHUNK_BYTES = 1 << 20  # the rootfs is ~300 MB: stream it to the engine, never hold it in memory
# Package files and indexes are of no use in a container without network, and weigh ~100 MB.
_EXCLUDES = ("./var/cache/apt/archives/*.deb", "./var/cache/apt/*.bin", "./var/lib/apt/lists/*_*")

# An imported tar has no config at all: what every base needs, as `docker import --change` instructions.
IMPORTED_CONFIG = ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8",
                   'CMD ["/bin/bash"]')

Log = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


@dataclass(frozen=True)
class OfflineBase:
    """What goes into the base image, and where it is assembled."""

    image: str = DEFAULT_IMAGE
    suite: str = "bookworm"
    packages: tuple[str, ...] = ("python3", "ca-certificates", "python3-aiosmtpd", "python3-uvloop")
    mirror: str = "http://deb.debian.org/debian"
    workdir: Path = Path("/var/tmp")  # on disk, where /tmp may be a small tmpfs
    debootstrap_timeout_s: float = 1800

    def debootstrap_args(self, debootstrap: str, rootfs: Path) -> list[str]:
        include = f"--include={','.join(self.packages)}"
        return [debootstrap, "--variant=minbase", include, self.suite, str(rootfs), self.mirror]

    def tar_args(self, rootfs: Path) -> list[str]:
        excludes = [f"--exclude={pattern}" for pattern in _EXCLUDES]
        # --one-file-system: never archive a /proc or /dev that a killed debootstrap left mounted.
        return ["tar", "--numeric-owner", "--one-file-system", *excludes, "-C", str(rootfs), "-c", "."]

    def changes(self) -> list[str]:
        """Dockerfile instructions applied on import: an imported tar has no config at all."""
        return [
            f"LABEL {LABEL_BASE}=1",
            f'LABEL {LABEL_BASE}.suite="{self.suite}" {LABEL_BASE}.packages="{",".join(self.packages)}"',
            "ENV PYTHONUNBUFFERED=1",
            *IMPORTED_CONFIG,
        ]

    def exists(self, client: docker.DockerClient) -> bool:
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
            raise EngineUnavailable(f"cannot ask the Docker engine about {self.image}: {err}") from err
        return True

    def ensure(self, client: docker.DockerClient, log: Log = _quiet, force: bool = False) -> bool:
        """Build the image unless it exists (or `force`); True when it was built."""
        if self.exists(client) and not force:
            log(f"{self.image} exists; nothing to do (force to rebuild it)")
            return False
        self.build(client, log)
        return True

    def build(self, client: docker.DockerClient, log: Log = _quiet) -> None:
        """debootstrap into a scratch folder under `workdir`, import it as `image`, remove the folder."""
        debootstrap = find_debootstrap()
        require_root()
        self.workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="devstack-base-", dir=self.workdir))
        try:
            rootfs = scratch / "rootfs"
            self.bootstrap(debootstrap, rootfs, scratch / "debootstrap.out", log)
            self.provision(rootfs, scratch / "provision.out", log)
            log(f"importing {rootfs} as {self.image}")
            self._import(client, rootfs, scratch / "tar.err")
        finally:
            remove_scratch(scratch, log)
        log(f"built {self.image}")

    def bootstrap(self, debootstrap: str, rootfs: Path, output: Path, log: Log) -> None:
        log(f"debootstrap {self.suite} into {rootfs} for {', '.join(self.packages)} (about a minute)")
        self._debootstrap(debootstrap, rootfs, output)

    def provision(self, rootfs: Path, output: Path, log: Log) -> None:
        """Work on the bootstrapped rootfs before it is imported; this base needs none (see package_base)."""

    def _debootstrap(self, debootstrap: str, rootfs: Path, output: Path) -> None:
        args = self.debootstrap_args(debootstrap, rootfs)
        with output.open("wb") as out:
            try:
                done = subprocess.run(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=self.debootstrap_timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                reason = f"no result after {self.debootstrap_timeout_s:.0f} s"
                raise DebootstrapFailed(reason, debootstrap_tail(output, rootfs)) from None
        if done.returncode != 0:
            raise DebootstrapFailed(f"exit status {done.returncode}", debootstrap_tail(output, rootfs))

    def _import(self, client: docker.DockerClient, rootfs: Path, tar_errors: Path) -> None:
        repository, tag = docker.utils.parse_repository_tag(self.image)
        with (
            tar_errors.open("wb") as err,
            subprocess.Popen(
                self.tar_args(rootfs), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err
            ) as tar,
        ):
            try:
                reply = client.api.import_image(
                    src=tar_chunks(tar, tar_errors),
                    repository=repository,
                    tag=tag or "latest",
                    changes=self.changes(),
                    stream_src=True,
                )
            except (docker.errors.DockerException, OSError) as error:
                raise ImportFailed(f"the Docker engine could not import {self.image}: {error}") from error
        check_import_reply(str(reply), self.image)
        if not self.exists(client):
            raise ImportFailed(f"the Docker engine reported no error, yet {self.image} is missing: {reply}")


def find_debootstrap() -> str:
    found = shutil.which("debootstrap")
    if found is None:
        raise DebootstrapMissing(
            "debootstrap is not on PATH: install it with `apt-get install -y debootstrap` "
            "(it lives in /usr/sbin, which PATH must include)"
        )
    return found


def require_root() -> None:
    if os.geteuid() != 0:
        raise NotRoot(
            "building the base image needs root (debootstrap chroots and creates device nodes): "
            "run it again as root, e.g. with sudo"
        )


def tar_chunks(tar: subprocess.Popen[bytes], tar_errors: Path) -> Iterator[bytes]:
    assert tar.stdout is not None
    while chunk := tar.stdout.read(_CHUNK_BYTES):
        yield chunk
    if tar.wait() != 0:
        # Raised before the upload's final chunk: the engine sees a broken stream and imports nothing.
        tail = " / ".join(last_lines(tar_errors, 3))
        raise ImportFailed(f"tar failed (exit status {tar.returncode}): {tail}")


def check_import_reply(reply: str, image: str) -> None:
    # The engine answers 200 and reports some failures inside the streamed JSON instead.
    for line in filter(None, (part.strip() for part in reply.splitlines())):
        message = json.loads(line)
        if isinstance(message, dict) and message.get("error"):
            raise ImportFailed(f"the Docker engine could not import {image}: {message['error']}")


def debootstrap_tail(output: Path, rootfs: Path) -> list[str]:
    # Its output says which step failed; its own log, kept in the rootfs on failure, says why.
    tail = last_lines(output, _TAIL_LINES)
    log = rootfs / "debootstrap" / "debootstrap.log"
    if log.exists():
        tail += [f"--- {log}", *last_lines(log, _TAIL_LINES)]
    return tail


def last_lines(path: Path, count: int) -> list[str]:
    try:
        lines = path.read_bytes().decode(errors="replace").splitlines()
    except OSError:
        return []
    return lines[-count:]


def remove_scratch(scratch: Path, log: Log, mountinfo: Path = Path("/proc/self/mountinfo")) -> None:
    """Delete the scratch folder, but never through a mount point.

    A debootstrap that was killed can leave /proc, /sys, or bind mounts of the host's /dev nodes inside the
    rootfs: deleting through those would delete the host's files.
    """
    for mount in reversed(mounts_under(scratch, mountinfo)):
        subprocess.run(["umount", mount], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if left := mounts_under(scratch, mountinfo):
        log(f"warning: kept {scratch}: still mounted inside it: {', '.join(left)}; unmount them, then delete it")
        return
    shutil.rmtree(scratch, ignore_errors=True)
    if scratch.exists():
        log(f"warning: could not delete all of {scratch}; delete it by hand")


def mounts_under(folder: Path, mountinfo: Path) -> list[str]:
    """Mount points at or below `folder`, parents first (field 5 of mountinfo, octal-escaped)."""
    root = str(folder.resolve())
    points = [_unescape(line.split()[4]) for line in mountinfo.read_text().splitlines() if line.strip()]
    return sorted(p for p in points if p == root or p.startswith(root + "/"))


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def main_ensure(image: str = DEFAULT_IMAGE, force: bool = False, log: Log = print) -> bool:
    """What `devstack base-image` runs: build `image` unless it exists (or `force`); True if it was built."""
    client = docker_engine.connect()  # the one door to the engine: raises devstack.errors.EngineUnavailable
    try:
        return OfflineBase(image=image).ensure(client, log=log, force=force)
    finally:
        client.close()


def pick(public: str, image: str = DEFAULT_IMAGE, log: Log = print) -> str:
    """The base image builds should use: `public` when the engine has it or a registry serves it, else the
    offline base (built when missing). What `make` runs, so a fresh machine works with or without a registry."""
    client = docker_engine.connect()
    try:
        if _present_or_pulled(client, public):
            return public
        log(f"{public} cannot be pulled (no registry reachable?): using the offline base {image}")
        OfflineBase(image=image).ensure(client, log=log)
        return image
    finally:
        client.close()


def _present_or_pulled(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(ref)
        return True
    except docker.errors.APIError:
        return False
