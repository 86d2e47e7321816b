"""Image references as Docker reads them: distribution/reference's own test tables, transcribed (cases, not code),
and the normalised repository that injection matches by (`ubuntu` = `library/ubuntu` = `docker.io/library/ubuntu`
= `index.docker.io/library/ubuntu`)."""

from __future__ import annotations

import pytest

from devstack.formats import reference

D = "sha256:" + "f" * 64

# TestFullNameRegexp: (name, whether the name grammar accepts it).
FULL_NAME = [
    ("", False), ("short", True), ("simple/name", True), ("library/ubuntu", True), ("docker/stevvooe/app", True),
    ("aa/aa/aa/aa/aa/aa/aa/aa/aa/bb/bb/bb/bb/bb/bb", True), ("aa/aa/bb/bb/bb", True), ("a/a/a/a", True),
    ("a/a/a/a/", False), ("a//a/a", False), ("a", True), ("a/aa", True), ("a/aa/a", True), ("foo.com", True),
    ("foo.com/", False), ("foo.com:8080/bar", True), ("foo.com:http/bar", False), ("foo.com/bar", True),
    ("foo.com/bar/baz", True), ("localhost:8080/bar", True), ("sub-dom1.foo.com/bar/baz/quux", True),
    ("blog.foo.com/bar/baz", True), ("a^a", False), ("aa/asdf$$^/aa", False), ("asdf$$^/aa", False),
    ("aa-a/a", True), ("a/" * 128 + "a", True), ("a-/a/a/a", False), ("foo.com/a-/a/a", False),
    ("-foo/bar", False), ("foo/bar-", False), ("foo-/bar", False), ("foo/-bar", False), ("_foo/bar", False),
    ("foo_bar", True), ("foo_bar.com", True), ("foo_bar.com:8080", False), ("foo_bar.com:8080/app", False),
    ("foo.com/foo_bar", True), ("____/____", False), ("_docker/_docker", False), ("docker_/docker_", False),
    ("b.gcr.io/test.example.com/my-app", True), ("xn--n3h.com/myimage", True), ("xn--7o8h.com/myimage", True),
    ("example.com/xn--7o8h.com/myimage", True), ("example.com/some_separator__underscore/myimage", True),
    ("example.com/__underscore/myimage", False), ("example.com/..dots/myimage", False),
    ("example.com/.dots/myimage", False), ("example.com/nodouble..dots/myimage", False),
    ("docker./docker", False), (".docker/docker", False), ("docker-/docker", False), ("-docker/docker", False),
    ("do..cker/docker", False), ("do__cker:8080/docker", False), ("do__cker/docker", True),
    ("registry.io/foo/project--id.module--name.ver---sion--name", True), ("Asdf.com/foo/bar", True),
    ("Foo/FarB", False),
]

# TestReferenceParse (Parse, no normalisation): (input, error, repository, domain, tag, digest).
REFERENCE_PARSE = [
    ("test_com", None, "test_com", "", "", ""),
    ("test.com:tag", None, "test.com", "", "tag", ""),
    ("test.com:5000", None, "test.com", "", "5000", ""),
    ("test.com/repo:tag", None, "test.com/repo", "test.com", "tag", ""),
    ("test:5000/repo", None, "test:5000/repo", "test:5000", "", ""),
    ("test:5000/repo:tag", None, "test:5000/repo", "test:5000", "tag", ""),
    (f"test:5000/repo@{D}", None, "test:5000/repo", "test:5000", "", D),
    (f"test:5000/repo:tag@{D}", None, "test:5000/repo", "test:5000", "tag", D),
    ("", "repository name must have at least one component", "", "", "", ""),
    (":justtag", "invalid reference format", "", "", "", ""),
    (f"@{D}", "invalid reference format", "", "", "", ""),
    ("repo@sha256:" + "f" * 34, "invalid checksum digest length", "", "", "", ""),
    ("validname@invaliddigest:" + "f" * 64, "unsupported digest algorithm", "", "", "", ""),
    ("Uppercase:tag", "repository name must be lowercase", "", "", "", ""),
    ("test:5000/Uppercase/lowercase:tag", "repository name must be lowercase", "", "", "", ""),
    ("lowercase:Uppercase", None, "lowercase", "", "Uppercase", ""),
    ("domain/" + "a" * 256 + ":tag", "repository name must not be more than 255 characters", "", "", "", ""),
    ("a/" * 127 + "a:tag-puts-this-over-max", None, "a/" * 127 + "a", "a", "tag-puts-this-over-max", ""),
    ("aa/asdf$$^/aa", "invalid reference format", "", "", "", ""),
    ("sub-dom1.foo.com/bar/baz/quux", None, "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "", ""),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", None, "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com",
     "some-long-tag", ""),
    ("b.gcr.io/test.example.com/my-app:test.example.com", None, "b.gcr.io/test.example.com/my-app", "b.gcr.io",
     "test.example.com", ""),
    ("xn--n3h.com/myimage:xn--n3h.com", None, "xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com", ""),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{D}", None, "xn--7o8h.com/myimage", "xn--7o8h.com", "xn--7o8h.com", D),
    ("foo_bar.com:8080", None, "foo_bar.com", "", "8080", ""),
    ("foo/foo_bar.com:8080", None, "foo/foo_bar.com", "foo", "8080", ""),
    ("192.168.1.1", None, "192.168.1.1", "", "", ""),
    ("192.168.1.1:tag", None, "192.168.1.1", "", "tag", ""),
    ("192.168.1.1:5000", None, "192.168.1.1", "", "5000", ""),
    ("192.168.1.1/repo", None, "192.168.1.1/repo", "192.168.1.1", "", ""),
    ("192.168.1.1:5000/repo", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "", ""),
    ("192.168.1.1:5000/repo:5050", None, "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", ""),
    ("[2001:db8::1]", "invalid reference format", "", "", "", ""),
    ("[2001:db8::1]:5000", "invalid reference format", "", "", "", ""),
    ("[2001:db8::1]:tag", "invalid reference format", "", "", "", ""),
    ("[2001:db8::1]/repo", None, "[2001:db8::1]/repo", "[2001:db8::1]", "", ""),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", None, "[2001:db8:1:2:3:4:5:6]/repo", "[2001:db8:1:2:3:4:5:6]", "tag", ""),
    ("[2001:db8::1]:5000/repo", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", ""),
    ("[2001:db8::1]:5000/repo:tag", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", ""),
    (f"[2001:db8::1]:5000/repo@{D}", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", D),
    (f"[2001:db8::1]:5000/repo:tag@{D}", None, "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "tag", D),
    ("[2001:db8::]:5000/repo", None, "[2001:db8::]:5000/repo", "[2001:db8::]:5000", "", ""),
    ("[::1]:5000/repo", None, "[::1]:5000/repo", "[::1]:5000", "", ""),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format", "", "", "", ""),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format", "", "", "", ""),
    ("example.com/" + "a" * 255 + ":tag", None, "example.com/" + "a" * 255, "example.com", "tag", ""),
]

# TestValidateReferenceName and TestValidateRemoteName (ParseNormalizedNamed).
VALID_NAMES = [
    "docker/docker", "library/debian", "debian", "localhost/library/debian", "localhost/debian",
    "LOCALDOMAIN/library/debian", "LOCALDOMAIN/debian", "docker.io/docker/docker", "docker.io/library/debian",
    "docker.io/debian", "index.docker.io/docker/docker", "index.docker.io/library/debian", "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker", "127.0.0.1:5000/library/debian", "127.0.0.1:5000/debian", "192.168.0.1",
    "192.168.0.1:80", "192.168.0.1:8/debian", "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker", "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "Docker/docker", "DOCKER/docker",
    "docker-rules/docker", "docker---rules/docker", "doc/docker", "d/docker", "jess/t", "dock__er/docker",
]
INVALID_NAMES = [
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker", "-docker.io/docker/docker",
    "docker///docker", "docker.io/docker/Docker", "docker.io/docker///docker", "[fc00::1]", "[fc00::1]:5000",
    "fc00::1:5000/debian", "[fe80::1%eth0]:5000/debian", "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a", "docker-/docker", "-docker-/docker",
    "____/____", "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/",
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_" * 4 + "/docker",
]

# TestParseRepositoryInfo: (full name, [its familiar, full and ambiguous spellings]).
REPOSITORY_INFO = [
    ("localhost/fooo", ["localhost/fooo"]),
    ("localhost/fooo/bar", ["localhost/fooo/bar"]),
    ("LOCALDOMAIN/fooo", ["LOCALDOMAIN/fooo"]),
    ("LOCALDOMAIN/fooo/bar", ["LOCALDOMAIN/fooo/bar"]),
    ("docker.io/fooo/bar", ["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"]),
    ("docker.io/library/ubuntu", ["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"]),
    ("docker.io/nonlibrary/ubuntu", ["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"]),
    ("docker.io/other/library", ["other/library", "docker.io/other/library"]),
    ("127.0.0.1:8000/private/moonbase", ["127.0.0.1:8000/private/moonbase"]),
    ("127.0.0.1:8000/privatebase", ["127.0.0.1:8000/privatebase"]),
    ("example.com/private/moonbase", ["example.com/private/moonbase"]),
    ("example.com/privatebase", ["example.com/privatebase"]),
    ("example.com:8000/private/moonbase", ["example.com:8000/private/moonbase"]),
    ("example.com:8000/privatebasee", ["example.com:8000/privatebasee"]),
    ("docker.io/library/ubuntu-12.04-base", ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base",
                                             "index.docker.io/library/ubuntu-12.04-base"]),
    ("docker.io/library/foo", ["foo", "docker.io/library/foo", "docker.io/foo"]),
    ("docker.io/library/foo/bar", ["library/foo/bar", "docker.io/library/foo/bar"]),
    ("docker.io/store/foo/bar", ["store/foo/bar", "docker.io/store/foo/bar"]),
    ("Foo/bar", ["Foo/bar"]),
    ("FOO/bar", ["FOO/bar"]),
]


@pytest.mark.parametrize(("name", "valid"), FULL_NAME)
def test_full_name_grammar(name: str, valid: bool) -> None:
    assert (reference.NAME.fullmatch(name) is not None) is valid


@pytest.mark.parametrize(("text", "error", "repository", "domain", "tag", "digest"), REFERENCE_PARSE)
def test_reference_parse(text: str, error: str | None, repository: str, domain: str, tag: str, digest: str) -> None:
    if error is not None:
        with pytest.raises(reference.InvalidReference) as caught:
            reference.parse(text, normalize=False)
        assert str(caught.value) == error
        return
    parsed = reference.parse(text, normalize=False)
    assert (str(parsed), parsed.name, parsed.domain, parsed.tag, parsed.digest) == (
        text, repository, domain, tag, digest)


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_names(name: str) -> None:
    reference.parse(name)


@pytest.mark.parametrize("name", INVALID_NAMES)
def test_invalid_names(name: str) -> None:
    with pytest.raises(reference.InvalidReference):
        reference.parse(name)


@pytest.mark.parametrize(("full", "spellings"), REPOSITORY_INFO)
def test_every_spelling_is_one_repository(full: str, spellings: list[str]) -> None:
    for spelling in spellings:
        assert reference.repository(spelling) == full
        assert reference.repository(f"{spelling}:tag@{D}") == full


def test_tag_and_digest() -> None:  # TestParseReferenceWithTagAndDigest
    text = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    assert str(reference.parse(text)) == "docker.io/library/" + text
    assert reference.full(text) == "docker.io/library/" + text


@pytest.mark.parametrize(("image", "expected"), [
    ("relay", "R"), ("relay:1.0", "R"), ("library/relay", "R"), ("docker.io/library/relay", "R"),
    ("index.docker.io/library/relay:2", "R"), ("docker.io/relay", "R"), (f"relay@{D}", "R"),
    ("demo/sink", "S"), ("docker.io/demo/sink:x", "S"), ("localhost:5000/web:1", "W"),
    ("relay-extra", None), ("other/relay", None), ("localhost:5001/web", None), ("Demo/sink", None),
    ("${UNSET}", None),  # no reference at all: matches nothing
])
def test_lookup_matches_by_normalised_repository(image: str, expected: str | None) -> None:
    assert reference.lookup(image, {"relay": "R", "demo/sink": "S", "localhost:5000/web": "W"}) == expected
