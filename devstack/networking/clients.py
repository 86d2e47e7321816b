"""The HTTP clients of smoke tests and readiness probes, on one TLS context per process.

Why: httpx builds a fresh TLS context (its CA store read and parsed) for every client, 30 ms of the event loop's
time on a quiet 2-core machine; the daemon makes two or three clients a cycle, on the path from a save to green."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def _tls() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def http(timeout_s: float) -> httpx.AsyncClient:
    """An async client with the shared TLS context (verifying certificates, as httpx's default does)."""
    return httpx.AsyncClient(timeout=timeout_s, verify=_tls())
