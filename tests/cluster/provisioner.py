#!/usr/bin/env python3
"""The test cluster's volumes: a default StorageClass `standard` (the name kind and minikube give theirs) and a
provisioner that gives each pending claim of that class a hostPath volume under the cluster's state directory,
as kind's local-path provisioner does. A released volume is deleted with its folder. Test infrastructure only.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import time
import urllib.error
from pathlib import Path
from typing import Any

from kubeapi import Api

CLASS = "standard"
PROVISIONER = "devstack.test/hostpath"


def ensure_class(api: Api) -> None:
    body = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}
    try:
        api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", body)
    except urllib.error.HTTPError as err:
        if err.code != 409:
            raise


def provision(api: Api, claim: dict[str, Any], root: Path) -> None:
    meta, spec = claim["metadata"], claim["spec"]
    name = f"pvc-{meta['uid']}"
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)  # any pod user may write, as with kind's local-path volumes
    size = spec.get("resources", {}).get("requests", {}).get("storage", "1Gi")
    body = {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {"capacity": {"storage": size}, "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Delete", "storageClassName": CLASS,
                     "hostPath": {"path": str(folder), "type": "DirectoryOrCreate"},
                     "claimRef": {"namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]}}}
    try:
        api.call("POST", "/api/v1/persistentvolumes", body)
    except urllib.error.HTTPError as err:
        if err.code != 409:
            raise


def release(api: Api, volume: dict[str, Any], root: Path) -> None:
    name = volume["metadata"]["name"]
    try:
        api.call("DELETE", f"/api/v1/persistentvolumes/{name}")
    except urllib.error.HTTPError as err:
        if err.code != 404:
            raise
    shutil.rmtree(root / name, ignore_errors=True)


def sweep(api: Api, root: Path) -> None:
    for claim in api.get("/api/v1/persistentvolumeclaims")["items"]:
        wants = claim["spec"].get("storageClassName") in (None, CLASS)
        if wants and claim.get("status", {}).get("phase") == "Pending" and not claim["spec"].get("volumeName"):
            provision(api, claim, root)
    for volume in api.get("/api/v1/persistentvolumes")["items"]:
        ours = volume["metadata"].get("annotations", {}).get("pv.kubernetes.io/provisioned-by") == PROVISIONER
        if ours and volume.get("status", {}).get("phase") in ("Released", "Failed"):
            release(api, volume, root)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--root", type=Path, required=True)
    args = parser.parse_args()
    api = Api(args.kubeconfig)
    ensure_class(api)
    while True:
        # The API server restarting, or an object changing under us: the next sweep sees it again.
        with contextlib.suppress(OSError, KeyError):
            sweep(api, args.root)
        time.sleep(1)


if __name__ == "__main__":
    main()
