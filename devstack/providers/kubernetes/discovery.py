"""Which REST path serves a kind, and whether it is namespaced: asked of the server (API discovery), so custom
resources work like built-in ones. Answers are cached per group/version and asked again on a miss, since a
CRD applied a moment ago adds kinds."""

from __future__ import annotations

from dataclasses import dataclass

from devstack.errors import DeployError
from devstack.providers.kubernetes.api import Api

# Kinds that are API bookkeeping rather than something a deploy creates; `down` never sweeps them.
_NOT_SWEPT = frozenset({"Event", "Binding", "ComponentStatus", "EndpointSlice", "Endpoints", "Lease",
                        "ControllerRevision", "TokenReview", "SelfSubjectReview"})


@dataclass(frozen=True)
class Resource:
    group_version: str  # "v1", "apps/v1"
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str] = frozenset()

    @property
    def group(self) -> str:
        return self.group_version.rpartition("/")[0]

    def collection(self, namespace: str | None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            return f"{base}/namespaces/{namespace}/{self.plural}"
        return f"{base}/{self.plural}"

    def item(self, namespace: str | None, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"


class Discovery:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._cache: dict[str, list[Resource]] = {}

    def find(self, api_version: str, kind: str) -> Resource:
        for fresh in (False, True):
            if fresh:
                self._cache.pop(api_version, None)
            match = next((r for r in self.resources(api_version) if r.kind == kind), None)
            if match is not None:
                return match
        raise DeployError(f"the cluster of context {self.api.context!r} serves no kind {kind!r} in apiVersion "
                          f"{api_version!r}; check the manifest, or install the CRD that defines it")

    def resources(self, group_version: str) -> list[Resource]:
        if group_version not in self._cache:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            found = self.api.get(path) or {}
            self._cache[group_version] = [
                Resource(group_version, r["kind"], r["name"], bool(r.get("namespaced")), frozenset(r.get("verbs", ())))
                for r in found.get("resources", []) if "/" not in r["name"]]  # "pods/log" is a subresource
        return self._cache[group_version]

    def sweepable(self) -> list[Resource]:
        """Every kind `down` may look for: the preferred version of each group, listable and deletable."""
        versions = ["v1"] + [group["preferredVersion"]["groupVersion"]
                             for group in (self.api.get("/apis") or {}).get("groups", [])]
        return [r for gv in versions for r in self.resources(gv)
                if {"list", "delete"} <= r.verbs and r.kind not in _NOT_SWEPT]
