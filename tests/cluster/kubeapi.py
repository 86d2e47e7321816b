"""The smallest Kubernetes API client the test cluster's helpers need (standard library only): JSON requests
with the admin client certificate of a kubeconfig written by cluster.py."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path
from typing import Any


class Api:
    def __init__(self, kubeconfig: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        self.server = cluster["server"]
        self.tls = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.tls.load_cert_chain(user["client-certificate"], user["client-key"])

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, context=self.tls, timeout=10) as response:
            return json.loads(response.read())

    def get(self, path: str) -> Any:
        return self.call("GET", path)
