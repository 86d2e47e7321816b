"""mkdocs hooks: the repository's own Markdown outside docs/ joins the site, and links keep working both ways.

The pages are written to be read where they lie (on a forge, in an editor), so their links are relative to the
files in the repository: README.md links `docs/dev-loop.md`, docs/stacks.md links `../stacks/mailu/README.md`.
The site is built from docs/ alone, so the Markdown files that live elsewhere (the README as the site's home,
DEVELOPING.md, the stacks' and the sink's READMEs) are added to it under the names in PAGES, and every relative
link is rewritten from its repository path to its path in the site. A link to a file that is in neither is left
as written, for `mkdocs build --strict` to refuse.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parent.parent
DOCS = "docs/"

# Repository path → path in the site, for the Markdown outside docs/.
PAGES = {
    "README.md": "index.md",
    "DEVELOPING.md": "developing.md",
    "sink/README.md": "sink/reference.md",
    "stacks/demo/k8s/README.md": "stacks/demo-k8s.md",
    "stacks/kumomta/README.md": "stacks/kumomta.md",
    "stacks/mailman/README.md": "stacks/mailman.md",
    "stacks/mailu/README.md": "stacks/mailu.md",
}
SITE = {site: repo for repo, site in PAGES.items()}

# An inline link or image target: ](target) or ](target "title"); a target with a scheme or a leading / or # is
# not a file of the repository.
LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?((?:\s+\"[^\"]*\")?\))")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:|^/")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for repo, site in PAGES.items():
        files.append(File.generated(config, site, abs_src_path=str(REPO / repo)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any) -> str:
    here = repo_path(page.file.src_uri)
    return LINK.sub(lambda match: relink(match, here, page.file.src_uri), markdown)


def repo_path(site_path: str) -> str:
    return SITE.get(site_path, DOCS + site_path)


def site_path(repo: str) -> str | None:
    if repo.startswith(DOCS):
        return repo.removeprefix(DOCS)
    return PAGES.get(repo)


def relink(match: re.Match[str], here: str, page_uri: str) -> str:
    opening, target, anchor, closing = match.group(1), match.group(2), match.group(3) or "", match.group(4)
    if EXTERNAL.match(target):
        return match.group(0)
    in_site = site_path(posixpath.normpath(posixpath.join(posixpath.dirname(here), target)))
    if in_site is None:
        return match.group(0)
    return opening + posixpath.relpath(in_site, posixpath.dirname(page_uri) or ".") + anchor + closing
