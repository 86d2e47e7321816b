"""The command-line tools the Kubernetes providers shell out to, found on PATH with an install hint when absent.

kind, k3d and minikube own their clusters' life cycle and image loading, kubectl renders kustomize folders and
helm renders charts; devstack drives them rather than re-implementing them.
"""

from __future__ import annotations

import shutil
import subprocess

from devstack import blocking
from devstack.errors import DeployError, ToolMissing

_HINTS = {
    "kind": "install it from https://kind.sigs.k8s.io/docs/user/quick-start/#installation "
            "(e.g. `go install sigs.k8s.io/kind@latest`)",
    "k3d": "install it from https://k3d.io/#installation",
    "minikube": "install it from https://minikube.sigs.k8s.io/docs/start/",
    "helm": "install it from https://helm.sh/docs/intro/install/",
    "kubectl": "install it from https://kubernetes.io/docs/tasks/tools/ (it renders kustomize folders)",
    "docker": "install Docker (Debian: `apt-get install docker.io`); kind, k3d and minikube need it too",
}
_TAIL_LINES = 12


def find(tool: str, needed_for: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolMissing(tool, needed_for, _HINTS.get(tool, "install it"))
    return path


def run(argv: list[str], *, what: str, stdin: str | None = None, timeout_s: float = 900.0) -> str:
    """Run a tool; its stdout, or DeployError with `what` failed and the tail of its output."""
    try:
        result = blocking.run(argv, stdin=stdin, timeout_s=timeout_s)  # killed when Ctrl-C cancels the step
    except subprocess.TimeoutExpired:
        raise DeployError(f"{what} did not finish within {timeout_s:.0f}s: {' '.join(argv)}") from None
    except OSError as err:
        raise DeployError(f"{what} could not start `{argv[0]}`: {err.strerror}") from None
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()[-_TAIL_LINES:]
        detail = "\n".join(f"  | {line}" for line in output)
        raise DeployError(f"{what} failed (exit {result.returncode}): {' '.join(argv)}" + (f"\n{detail}" if detail
                                                                                          else ""))
    return result.stdout


def succeeds(argv: list[str], timeout_s: float = 60.0) -> bool:
    """Whether a probing command (e.g. `minikube status`) exits 0."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout_s, check=False).returncode == 0
    except (subprocess.TimeoutExpired, OSError):
        return False
