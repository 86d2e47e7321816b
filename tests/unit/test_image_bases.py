"""`[images.NAME] base = "OTHER"`: an image built FROM another image of the project. Its tag follows its base's:
a base's new content gives the image built on it a new tag too. The builds themselves run against the real engine in
tests/integration/test_image_bases.py."""

from __future__ import annotations

import pytest

from devstack.images import plan
from tests.unit.conftest import Project

WEB = '[images.web]\ncontext = "web"\nbase = "relay"\n'


def config(*extra: str) -> str:
    return '[project]\nname = "demo"\n\n[images.relay]\ncontext = "relay"\n\n' + "\n".join(extra) + \
        '\n[swarm]\nstack_file = "stack.yml"\n'


@pytest.fixture
def layered(project: Project) -> Project:
    project.write("web/Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY page.html /srv/\n")
    project.write("web/page.html", "<p>hello</p>\n")
    project.write("web/packages.txt", "hello\n")
    return project


def test_base_is_read_and_the_image_gets_its_base_tag_as_build_arg(layered: Project) -> None:
    loaded = layered.load(config(WEB))
    assert loaded.images["web"].base == "relay" and loaded.images["relay"].base is None
    relay, web = plan.scan(list(loaded.images.values()))
    assert web.spec.args == {"BASE": relay.tag}
    assert relay.tag.startswith("relay:") and web.tag.startswith("web:")


def test_a_new_base_gives_the_image_built_on_it_a_new_tag(layered: Project) -> None:
    before = {t.spec.name: t.tag for t in plan.scan(list(layered.load(config(WEB)).images.values()))}
    layered.write("relay/relay.py", "print('edited')\n")
    after = {t.spec.name: t.tag for t in plan.scan(list(layered.load(config(WEB)).images.values()))}
    assert after["relay"] != before["relay"] and after["web"] != before["web"]
    layered.write("web/page.html", "<p>edited</p>\n")
    again = {t.spec.name: t.tag for t in plan.scan(list(layered.load(config(WEB)).images.values()))}
    assert again["relay"] == after["relay"] and again["web"] != after["web"]


def test_the_order_of_the_tables_does_not_matter(layered: Project) -> None:
    # The image built on another may come first in devstack.toml; a chain of three resolves too.
    text = config(WEB, '[images.top]\ncontext = "web"\nbase = "web"\n')
    first = {t.spec.name: t.tag for t in plan.scan(list(layered.load(text).images.values()))}
    reordered = text.replace(WEB, "").replace("[swarm]", WEB + "\n[swarm]")
    loaded = layered.load(reordered)
    assert list(loaded.images)[-1] == "web"
    second = plan.scan(list(loaded.images.values()))
    assert {t.spec.name: t.tag for t in second} == first
    by_name = {t.spec.name: t for t in second}
    assert by_name["top"].spec.args["BASE"] == by_name["web"].tag


def test_base_and_packages_are_refused_together(layered: Project) -> None:
    # Both would set BASE; the other ways a base can be wrong are in test_config.py's table of errors.
    assert layered.error(config('[images.web]\ncontext = "web"\nbase = "relay"\npackages = "packages.txt"\n')) == (
        "devstack.toml: images.web.base: cannot be combined with `packages`: both set the build arg BASE (list the "
        "packages in the package list of image 'relay')")
