"""Certificates for the test cluster, made with openssl: one CA; the API server's serving certificate; a client
certificate per identity (the admin in group system:masters that kubectl, devstack and the cluster's helpers use;
the kubelet as its node, kube-proxy, the controller manager and the scheduler as the users Kubernetes' default
RBAC names, as kubeadm sets them up); the service-account signing key pair."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make(folder: Path, names: list[str], ips: list[str], clients: dict[str, str]) -> None:
    """The CA, the API server's certificate, the service-account key pair, and a client certificate per entry of
    `clients` (file name → subject, e.g. "/O=system:nodes/CN=system:node:NAME")."""
    if (folder / "admin.crt").exists():
        return
    ssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", "/CN=devstack-test-ca")
    alt = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    signed(folder, "apiserver", "/CN=kube-apiserver", f"subjectAltName={alt}\nextendedKeyUsage=serverAuth")
    for name, subject in clients.items():
        signed(folder, name, subject, "extendedKeyUsage=clientAuth")
    ssl(folder, "genrsa", "-out", "sa.key", "2048")
    ssl(folder, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    for key in folder.glob("*.key"):
        key.chmod(0o600)


def signed(folder: Path, name: str, subject: str, extensions: str) -> None:
    ssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        "-subj", subject)
    (folder / f"{name}.ext").write_text(extensions + "\n")
    ssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", f"{name}.crt", "-days", "3650", "-extfile", f"{name}.ext")


def ssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
