"""The devstack.toml `devstack init` writes from what config.scaffold found: commented TOML, each table saying
where it came from and what to change."""

from __future__ import annotations

import json
from pathlib import Path

from devstack.config.scaffold import Found, Port, project_name, smoke_kind

_LOW_PORT_SHIFT = 8000  # a forward of a port below 1024 listens at port + 8000 (25 → 8025): no root needed


def render(found: Found) -> str:
    parts = [_header(found), _project(found), *(_image(found, i) for i in range(len(found.images))),
             _deploy(found), *_forwards(found), *_smoke(found), _resources_example(found)]
    return "\n".join(part for part in parts if part).rstrip("\n") + "\n"


def _q(value: str) -> str:
    return json.dumps(value)  # a TOML basic string is a JSON string for what paths and names hold


def _rel(found: Found, path: Path) -> str:
    try:
        text = str(path.resolve().relative_to(found.root.resolve()))
    except ValueError:
        text = str(path)
    return text or "."


def _header(found: Found) -> str:
    source = (f"the compose file {_rel(found, found.stack_file)}" if found.stack_file else
              "the kustomization " + _rel(found, found.kustomize) if found.kustomize else
              "the helm chart " + ", ".join(_rel(found, c) for c in found.charts) if found.charts else
              f"{len(found.manifests)} Kubernetes manifest file(s)")
    return (f"# devstack.toml, written by `devstack init` from {source}.\n"
            "# `devstack ci` builds the images, deploys, waits until every resource is ready and runs the smoke\n"
            "# tests; `devstack up` does the same, then keeps it all up to date as you edit; `devstack down`\n"
            "# removes it.\n"
            "# Every key is explained in devstack's docs/configuration.md. Paths are relative to this file.\n")


def _project(found: Found) -> str:
    if found.provider == "swarm":
        provider = ('provider = "swarm"        # a single-node Docker Swarm on this machine (created when none runs)\n'
                    '# provider = "kind"       # or Kubernetes: then name manifests under [kubernetes]')
    else:
        provider = ('provider = "kind"         # a kind cluster named after the project, created when absent;\n'
                    '                          # k3d, minikube, or "context" (an existing kubeconfig context)\n'
                    '                          # work the same')
    return f"[project]\nname = {_q(project_name(found.root))}\n{provider}\n"


def _image(found: Found, index: int) -> str:
    image = found.images[index]
    lines = [f"# Built from {_rel(found, image.context / image.dockerfile)}, tagged by its content: a change in the"
             " context rebuilds it.", f"[images.{image.name}]", f"context = {_q(_rel(found, image.context))}"]
    if image.dockerfile != "Dockerfile":
        lines.append(f"dockerfile = {_q(image.dockerfile)}")
    if image.ref and image.ref != image.name:
        lines.append(f"ref = {_q(image.ref)}          # the image the deploy runs: devstack puts the built tag there")
    elif not image.ref and found.provider != "swarm":
        lines.append(f"# ref = {_q(image.name)}   # no manifest runs an image named so: write the repository they use")
    lines += ["# Saved files copied into the running containers, then a restart command, instead of a rebuild:",
              "# [images." + image.name + ".live_update]",
              "# sync = [{ local = \"" + _rel(found, image.context) + "/app.py\", remote = \"/app/app.py\" }]",
              "# restart = [\"sh\", \"-c\", \"kill -HUP 1\"]"]
    return "\n".join(lines) + "\n"


def _deploy(found: Found) -> str:
    if found.stack_file is not None:
        return ("# Deployed with `docker stack deploy` after ${VAR} substitution; a service with `build:` and no\n"
                "# `image:` runs the image above whose ref is the service's name. Publish ports with `mode: host`\n"
                "# where the kernel lacks IPVS (swarm's routing mesh needs it).\n"
                f"[swarm]\nstack_file = {_q(_rel(found, found.stack_file))}\n")
    lines = ["[kubernetes]"]
    if found.kustomize is not None:
        lines.append(f"kustomize = [{_q(_rel(found, found.kustomize))}]   # rendered with `kubectl kustomize`")
    elif found.manifests and not found.charts:
        listed = ", ".join(_q(_rel(found, m)) for m in found.manifests)
        lines.append(f"manifests = [{listed}]")
    lines.append("# namespace = \"...\"           # default: the project's name, created when missing")
    for chart in found.charts if found.kustomize is None else ():
        lines += ["", "[[kubernetes.helm]]                 # rendered with `helm template`",
                  f"chart = {_q(_rel(found, chart))}", "# values = [\"dev-values.yaml\"]"]
    return "\n".join(lines) + "\n"


def local_port(port: Port) -> int:
    return port.port if port.published or port.port >= 1024 else port.port + _LOW_PORT_SHIFT


def _forwards(found: Found) -> list[str]:
    tables = []
    for port in found.ports:
        if port.published:
            continue  # the stack file publishes it on this machine itself
        tables.append(f"# 127.0.0.1:{local_port(port)} reaches port {port.port} of {port.resource}\n"
                      f"[[forwards]]\nresource = {_q(port.resource)}\nlocal = {local_port(port)}\n"
                      f"remote = {port.port}\n")
    return tables


def _smoke(found: Found) -> list[str]:
    tables = []
    for port in found.ports:
        kind, local = smoke_kind(port), local_port(port)
        name = f"{port.resource}-{kind}" if sum(p.resource == port.resource and smoke_kind(p) == kind
                                                for p in found.ports) == 1 else f"{port.resource}-{kind}-{port.port}"
        if kind == "http":
            tables.append(f"# {_port_words(port)} looks like HTTP: a GET must answer 200 (change the"
                          " path or status to what it serves).\n"
                          f"[[smoke]]\nname = {_q(name)}\ntype = \"http\"\nresource = {_q(port.resource)}\n"
                          f"url = \"http://127.0.0.1:{local}/\"\nstatus = 200\n")
        elif kind == "smtp":
            tables.append(f"# {_port_words(port)} looks like SMTP: its banner, EHLO, and that it is no"
                          " open relay.\n"
                          f"[[smoke]]\nname = {_q(name)}\ntype = \"smtp\"\nresource = {_q(port.resource)}\n"
                          f"port = {local}\n# relay_check = false     # for a server that accepts any mail (a sink)\n")
    return tables


def _port_words(port: Port) -> str:
    if port.published and port.target:
        return f"Port {port.target} of {port.resource}, published at {port.port},"
    return f"Port {port.port} of {port.resource}"


def _resources_example(found: Found) -> str:
    return ("# Per-resource settings, for example an order (deployed once its dependencies are ready) or manual\n"
            "# rebuilds (saves wait until `devstack trigger NAME`):\n"
            "# [resources.<name>]\n# depends_on = [\"<another resource>\"]\n# trigger = \"manual\"\n")
