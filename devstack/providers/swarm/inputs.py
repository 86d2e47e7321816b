"""What a swarm deploy is made of, for the dev loop: the stack file and the files it names (env_file, configs'
and secrets' `file`); an edit of one redeploys without a build."""

from __future__ import annotations

from devstack.config.model import Config
from devstack.providers.base import DeployInputs
from devstack.providers.swarm import stackfile


def deploy_inputs(config: Config) -> DeployInputs:
    if config.swarm is None:
        return DeployInputs(what="stack file changed")
    stack_file = config.swarm.stack_file
    files = frozenset({stack_file, *stackfile.referenced(stack_file, config.variables)})
    return DeployInputs(files=files, what="stack file changed")
