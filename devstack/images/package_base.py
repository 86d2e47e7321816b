"""Images built from a list of Debian packages, with or without a registry: the build arg BASE and its offline base.

An image whose [images.NAME] names a `packages` file is built FROM ${BASE}, and its Dockerfile installs the list
with apt unless the base already holds it. devstack sets BASE (unless the image's `args` do):

    debian:bookworm-slim            when the engine has it or a registry serves it: apt installs the list (online)
    devstack/debian:<hash12>        otherwise: an offline base that already holds the list, so the RUN does nothing

The offline base is made once per list (its tag is the list's hash) and reused while the tag exists:

    debootstrap --variant=minbase bookworm ROOT          (offline_base.OfflineBase: scratch folder, tar, import)
    ROOT/etc/apt/sources.list                            bookworm, bookworm-updates, bookworm-security
    ROOT/usr/sbin/policy-rc.d                            exit 101: no service starts while installing
    chroot ROOT apt-get install --no-install-recommends LIST    (not debootstrap --include, which keeps only
                                                          the first of `a | b` alternatives)
    apt-get clean, rm -rf ROOT/var/lib/apt/lists/*       then imported with LABEL dev.devstack.base-packages=HASH

Its error, InstallFailed, is in devstack/errors.py.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors

from devstack.config.model import BASE_ARG, ImageSpec, PackageList
from devstack.errors import InstallFailed, OfflineBaseError
from devstack.images import offline_base
from devstack.images.offline_base import Log, OfflineBase, last_lines

PUBLIC = "debian:bookworm-slim"
REPOSITORY = "devstack/debian"
OFFLINE_ENV = "DEVSTACK_OFFLINE"
LABEL_PACKAGES = "dev.devstack.base-packages"
# The Dockerfile lines of such an image (docs/images.md): apt installs the list unless the base already holds it.
DOCKERFILE = """ARG BASE=debian:bookworm-slim
FROM ${BASE}
COPY packages.txt /tmp/devstack-packages.txt
RUN pk=$(sed 's/#.*//' /tmp/devstack-packages.txt | xargs); \\
    dpkg -s $pk >/dev/null 2>&1 || { apt-get update && DEBIAN_FRONTEND=noninteractive \\
    apt-get install -y --no-install-recommends $pk && rm -rf /var/lib/apt/lists/*; }
"""
_RETRY_PULL_S = 300.0  # a failed pull is not retried on every pass of the dev loop
_pull_failed_at: dict[str, float] = {}
_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def offline_tag(packages: PackageList) -> str:
    return f"{REPOSITORY}:{packages.digest[:12]}"


@dataclass(frozen=True)
class PackageBase(OfflineBase):
    """The offline base of one package list: minbase Debian plus the list, installed by apt in a chroot."""

    digest: str = ""
    security_mirror: str = "http://deb.debian.org/debian-security"
    install_timeout_s: float = 1800
    cache: Path = Path("/var/cache/devstack")  # the minimal system shared by every list, and the build locks
    cache_max_age_s: float = 7 * 86400

    @classmethod
    def of(cls, packages: PackageList) -> PackageBase:
        return cls(image=offline_tag(packages), packages=packages.names, digest=packages.digest)

    def debootstrap_args(self, debootstrap: str, rootfs: Path) -> list[str]:
        return [debootstrap, "--variant=minbase", self.suite, str(rootfs), self.mirror]

    def changes(self) -> list[str]:
        return [
            f"LABEL {LABEL_PACKAGES}={self.digest}",
            f'LABEL {LABEL_PACKAGES}.names="{" ".join(self.packages)}"',
            *offline_base.IMPORTED_CONFIG,
        ]

    def bootstrap(self, debootstrap: str, rootfs: Path, output: Path, log: Log) -> None:
        """Lists change more often than Debian's minimal system: debootstrap it (two minutes and more) about once
        a week, and unpack that from a tar for every other list; `apt-get upgrade` then brings it up to date."""
        cached = self.cache / f"{self.suite}-minbase.tar"
        if cached.is_file() and time.time() - cached.stat().st_mtime < self.cache_max_age_s:
            log(f"{self.image}: unpacking the minimal {self.suite} bootstrapped before ({cached})")
            rootfs.mkdir()
            with output.open("ab") as out:
                unpacked = subprocess.run(["tar", "--numeric-owner", "-xpf", str(cached), "-C", str(rootfs)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            if unpacked.returncode == 0:
                return
            log(f"warning: could not unpack {cached} ({' / '.join(last_lines(output, 2))}); bootstrapping")
            shutil.rmtree(rootfs)
        super().bootstrap(debootstrap, rootfs, output, log)
        self._keep(rootfs, cached, log)

    def _keep(self, rootfs: Path, cached: Path, log: Log) -> None:
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.partial")  # renamed when whole: never half read
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as out:
                subprocess.run(self.tar_args(rootfs), stdin=subprocess.DEVNULL, stdout=out,
                               stderr=subprocess.DEVNULL, check=True)
            partial.replace(cached)
        except (OSError, subprocess.CalledProcessError) as err:
            partial.unlink(missing_ok=True)
            log(f"warning: could not keep the minimal system in {cached} for the next list: {err}")

    def sources(self) -> str:
        return (f"deb {self.mirror} {self.suite} main\n"
                f"deb {self.mirror} {self.suite}-updates main\n"
                f"deb {self.security_mirror} {self.suite}-security main\n")

    def provision(self, rootfs: Path, output: Path, log: Log) -> None:
        (rootfs / "etc/apt/sources.list").write_text(self.sources())
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\n# devstack: no service starts inside an image build\nexit 101\n")
        policy.chmod(0o755)
        with _proc_mounted(rootfs):
            log(f"{self.image}: apt-get update, upgrade, install of {len(self.packages)} packages in the chroot")
            self._apt(rootfs, output, "update")
            self._apt(rootfs, output, "upgrade")
            self._apt(rootfs, output, "install", "--no-install-recommends", *self.packages)
            self._apt(rootfs, output, "clean")
        if missing := [name for name in self.packages if not dpkg_knows(rootfs, name)]:
            # The Dockerfile's `dpkg -s LIST` would fail on this base and its RUN reach for the network.
            raise InstallFailed("dpkg -s", f"apt installed the list, yet {', '.join(missing)} is not installed "
                                "under that name (a virtual package?): name the package that provides it", [])
        for index in (rootfs / "var/lib/apt/lists").glob("*_*"):
            index.unlink()
        # The engine gives every container its own resolv.conf: the host's must not stay in the image.
        (rootfs / "etc/resolv.conf").write_text("")

    def _apt(self, rootfs: Path, output: Path, action: str, *args: str) -> None:
        step = f"apt-get {action}"
        command = ["apt-get", "-q", "-y", "-o", "Dpkg::Use-Pty=0", action, *args]
        with output.open("ab") as out:
            try:
                done = subprocess.run(["chroot", str(rootfs), *command], stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, env=_ENV, timeout=self.install_timeout_s,
                                      check=False)
            except subprocess.TimeoutExpired:
                reason = f"no result after {self.install_timeout_s:.0f} s"
                raise InstallFailed(step, reason, last_lines(output, 20)) from None
        if done.returncode != 0:
            raise InstallFailed(step, f"exit status {done.returncode}", last_lines(output, 20))

    def ensure(self, client: docker.DockerClient, log: Log = offline_base._quiet, force: bool = False) -> bool:
        """As OfflineBase.ensure, one build at a time per list: a second process waits, then finds the tag."""
        if self.exists(client) and not force:
            return False
        with _locked(self.cache / "locks" / f"{self.image.replace('/', '-').replace(':', '-')}.lock", log):
            return super().ensure(client, log=log, force=force)


def dpkg_knows(rootfs: Path, name: str) -> bool:
    """`dpkg -s NAME` succeeds in `rootfs`, as the Dockerfile's RUN asks it."""
    done = subprocess.run(["chroot", str(rootfs), "dpkg", "-s", name], stdin=subprocess.DEVNULL,
                          capture_output=True, env=_ENV, check=False)
    return done.returncode == 0


@contextmanager
def _proc_mounted(rootfs: Path) -> Iterator[None]:
    # Some maintainer scripts read /proc; remove_scratch unmounts it too should this process be killed.
    proc = rootfs / "proc"
    mounted = subprocess.run(["mount", "-t", "proc", "proc", str(proc)], capture_output=True, check=False)
    try:
        yield
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", str(proc)], capture_output=True, check=False)


@contextmanager
def _locked(path: Path, log: Log) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build of the same offline base ({path})")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # the lock goes with the file handle


def public_wanted() -> bool:
    """DEVSTACK_OFFLINE=1 takes the offline path even where a registry answers: to try what CI without one does."""
    return os.environ.get(OFFLINE_ENV) != "1"


def why_offline() -> str:
    if not public_wanted():
        return f"{OFFLINE_ENV}=1"
    return f"{PUBLIC} is neither present nor pullable"


def public_usable(client: docker.DockerClient, ref: str = PUBLIC) -> bool:
    """The engine has `ref` or pulls it now. A failed pull is remembered for a few minutes."""
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        pass
    if time.monotonic() - _pull_failed_at.get(ref, -_RETRY_PULL_S) < _RETRY_PULL_S:
        return False
    try:
        client.images.pull(ref)
        return True
    except (docker.errors.APIError, OSError):
        _pull_failed_at[ref] = time.monotonic()
        return False


def with_base(spec: ImageSpec, public: str | None) -> ImageSpec:
    """`spec` with the build arg BASE set: `public` when usable (not None), else the list's offline base."""
    if spec.packages is None or BASE_ARG in spec.args:
        return spec
    return dataclasses.replace(spec, args={**spec.args, BASE_ARG: public or offline_tag(spec.packages)})


def needs_offline(spec: ImageSpec) -> bool:
    return spec.packages is not None and spec.args.get(BASE_ARG) == offline_tag(spec.packages)


def ensure(client: docker.DockerClient, spec: ImageSpec, log: Log, force: bool = False) -> bool:
    """Build the offline base of `spec`'s list unless it exists; True when it was built."""
    assert spec.packages is not None
    base = PackageBase.of(spec.packages)
    if not force and base.exists(client):
        return False
    started = time.monotonic()
    log(f"{spec.name}: building the offline base {base.image} from {spec.packages.file.name} "
        f"({len(base.packages)} packages; a minute or more, once per list)")
    try:
        base.ensure(client, log=log, force=force)
    except OfflineBaseError as err:
        raise OfflineBaseError(f"image {spec.name}: the offline base {base.image} of {spec.packages.file} "
                               f"could not be built: {err}") from err
    log(f"{spec.name}: offline base {base.image} ready in {time.monotonic() - started:.0f}s")
    return True

