"""What a Kubernetes deploy is made of, for the dev loop: an edit of any of these redeploys without a build."""

from __future__ import annotations

from devstack.config.model import Config
from devstack.providers.base import DeployInputs
from devstack.providers.kubernetes import manifests


def deploy_inputs(config: Config) -> DeployInputs:
    """Files the `manifests` globs match, each kustomization's folder and the bases, components, patches and
    generator files it names, helm charts and their values files."""
    spec = config.kubernetes
    if spec is None:
        return DeployInputs(what="manifests changed")
    kustomized = {p for folder in spec.kustomize for p in manifests.kustomize_inputs(folder)}
    return DeployInputs(files=frozenset({*(v for c in spec.helm for v in c.values), *kustomized}),
                        folders=(*(p for p in kustomized if p.is_dir()), *(c.chart for c in spec.helm)),
                        # fnmatch's `*` crosses folders, so it matches every file glob would (and deleted ones), but
                        # "a/**/b" still needs a folder between a and b, where glob's `**` may stand for none.
                        patterns=(*spec.manifests, *(p.replace("/**/", "/") for p in spec.manifests if "/**/" in p)),
                        what="manifests changed")
