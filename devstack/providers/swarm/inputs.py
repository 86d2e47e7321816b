"""What a swarm deploy is made of, for the dev loop: the stack file (an edit redeploys without a build)."""

from __future__ import annotations

from devstack.config.model import Config
from devstack.providers.base import DeployInputs


def deploy_inputs(config: Config) -> DeployInputs:
    files = frozenset({config.swarm.stack_file}) if config.swarm is not None else frozenset()
    return DeployInputs(files=files, what="stack file changed")
