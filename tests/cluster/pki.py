"""Certificates for the test cluster, made with openssl: one CA; the API server's serving certificate; one
client certificate in group system:masters that every component, kubectl and devstack use (a single-user test
cluster); the service-account signing key pair."""

from __future__ import annotations

import subprocess
from pathlib import Path


def make(folder: Path, names: list[str], ips: list[str]) -> None:
    if (folder / "admin.crt").exists():
        return
    ssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", "3650", "-subj", "/CN=devstack-test-ca")
    alt = ",".join([f"DNS:{n}" for n in names] + [f"IP:{i}" for i in ips])
    signed(folder, "apiserver", "/CN=kube-apiserver", f"subjectAltName={alt}\nextendedKeyUsage=serverAuth")
    signed(folder, "admin", "/O=system:masters/CN=devstack-test-admin", "extendedKeyUsage=clientAuth")
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
