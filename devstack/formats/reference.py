"""Image references as Docker reads them (distribution/reference): the grammar, and the normalised name that
makes `ubuntu`, `library/ubuntu`, `docker.io/library/ubuntu` and `index.docker.io/library/ubuntu` one
repository, as Tilt matches them. `Foo/bar` names the registry `Foo`: only a lowercase first component without
`.` or `:` (and not `localhost`) is a Docker Hub namespace.

    parse("ubuntu:22.04")            → docker.io / library/ubuntu, tag 22.04
    repository("relay:1@sha256:…")   → "docker.io/library/relay"
    full("relay:1")                  → "docker.io/library/relay:1"
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from devstack.errors import InvalidReference

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_REMOTE = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[(?:[a-fA-F0-9:]+)\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_REMOTE}"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"

NAME = re.compile(_NAME, re.ASCII)
REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_SPLIT_NAME = re.compile(rf"(?:({_DOMAIN})/)?({_REMOTE})", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

MAX_NAME = 255
DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"


@dataclass(frozen=True)
class Reference:
    domain: str  # "" when the text named none (only from parse(normalize=False))
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse(text: str, *, normalize: bool = True) -> Reference:
    """ParseNormalizedNamed (the default: Docker Hub names get their domain and `library/`), or Parse."""
    if not normalize:
        return _parse(text)
    if _IDENTIFIER.fullmatch(text):
        raise InvalidReference(f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = _split_docker_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(f"invalid reference format: repository name ({remote}) must be lowercase")
    return _parse(f"{domain}/{remainder}")


def _parse(text: str) -> Reference:
    if not text:
        raise InvalidReference("repository name must have at least one component")
    match = REFERENCE.fullmatch(text)
    if match is None:
        lowered = text.lower()
        if lowered != text and REFERENCE.fullmatch(lowered):
            raise InvalidReference("repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    split = _SPLIT_NAME.fullmatch(name)
    assert split is not None  # the same grammar matched it a moment ago
    domain, path = split.group(1) or "", split.group(2)
    if len(path) > MAX_NAME:
        raise InvalidReference(f"repository name must not be more than {MAX_NAME} characters")
    if digest:
        _check_digest(digest)
    return Reference(domain, path, tag, digest)


def _check_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise InvalidReference("unsupported digest algorithm")
    if len(encoded) != length:
        raise InvalidReference("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise InvalidReference("invalid checksum digest format")


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, _OFFICIAL_PREFIX + name
    if first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    domain = DEFAULT_DOMAIN if domain == _LEGACY_DOMAIN else domain
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = _OFFICIAL_PREFIX + remote
    return domain, remote


def repository(image: str) -> str:
    """The normalised repository of an image reference (tag and digest left out). Text that is no reference (an
    unrendered template, say) is returned as it is, so it matches only itself."""
    try:
        return parse(image).name
    except InvalidReference:
        return image


def full(image: str) -> str:
    """The normalised reference, tag and digest kept: how container runtimes list the images they hold."""
    try:
        return str(parse(image))
    except InvalidReference:
        return image


def lookup(image: str, refs: Mapping[str, str]) -> str | None:
    """The value of `refs` (keyed by repository, as devstack.toml writes it) whose repository is the image's."""
    wanted = repository(image)
    return next((value for key, value in refs.items() if repository(key) == wanted), None)
