"""The context guard: devstack deploys dev stacks, so it refuses any kubeconfig context that does not look like a
local dev cluster unless the project says so (kubernetes.allowed_contexts) or the user does, for one run
(`--allow-context NAME`). A production cluster is never reached by accident through a stale current-context:
devstack only ever uses the context named in devstack.toml."""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase

from devstack.errors import ContextRefused, UsageError

# devstack-test: the Kubernetes cluster of devstack's own test suite (`make test-cluster`).
LOCAL_CONTEXTS = ("kind-*", "k3d-*", "minikube", "docker-desktop", "rancher-desktop", "devstack-test")


def check(context: str, allowed: Sequence[str], allow_once: str | None) -> None:
    if allow_once is not None and allow_once != context:
        raise UsageError(f"--allow-context {allow_once}: this project uses context {context!r}; "
                         "the option lifts the guard for that context only")
    if allow_once == context or any(fnmatchcase(context, pattern) for pattern in (*LOCAL_CONTEXTS, *allowed)):
        return
    patterns = ", ".join((*LOCAL_CONTEXTS, *allowed))
    raise ContextRefused(
        f"refusing to use kubeconfig context {context!r}: it is not on the allow-list of local dev clusters "
        f"({patterns}).\n  If it is a dev cluster, add it to kubernetes.allowed_contexts in devstack.toml, "
        f"or pass `--allow-context {context}` for this run.")
