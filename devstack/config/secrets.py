"""The [secrets.NAME] tables: dev secrets generated once per machine (see devstack.config.secret_store).

    [secrets.inject-password]
    length = 32                    # default 32
    alphabet = "abc...XYZ0123456789"  # default: ASCII letters and digits
    key = "password"               # the key in the Kubernetes Secret (default "value")

    [secrets.database-url]         # composed of other secrets: a credential that embeds one, e.g. a URL
    template = "postgresql://mailman:${secret:postgres-password}@postgres/mailman"
"""

from __future__ import annotations

import re
import string

from devstack.config.model import SecretSpec
from devstack.config.reader import Table
from devstack.errors import ConfigError

DEFAULT_LENGTH = 32
DEFAULT_ALPHABET = string.ascii_letters + string.digits
# The name becomes a Kubernetes Secret's name (a DNS-1123 subdomain) and a swarm secret's name.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
# A Secret's data key.
_KEY = re.compile(r"[-._a-zA-Z0-9]{1,253}")


def read(top: Table) -> tuple[SecretSpec, ...]:
    return tuple(_secret(table, name) for name, table in top.tables("secrets"))


def _secret(table: Table, name: str) -> SecretSpec:
    if not _NAME.fullmatch(name):
        raise ConfigError(table.file, table.path, "expected a name of lower-case letters, digits, '-' or '.' "
                                                  "(it names a Kubernetes Secret)")
    template = table.string("template", None)
    if template is not None and (table.has("length") or table.has("alphabet")):
        raise table.error("template", "a template's value is composed, not generated: drop 'length' and 'alphabet'")
    length = table.integer("length", DEFAULT_LENGTH, low=8, high=4096)
    alphabet = table.string("alphabet", DEFAULT_ALPHABET)
    if len(set(alphabet)) < 2:
        raise table.error("alphabet", "needs at least two different characters")
    key = table.string("key", "value")
    if not _KEY.fullmatch(key):
        raise table.error("key", f"expected letters, digits, '-', '_' or '.', got {key!r}")
    table.done()
    return SecretSpec(name=name, length=length, alphabet=alphabet, key=key, template=template)
