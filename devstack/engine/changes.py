"""Which work a batch of changed files calls for. Pure: paths and config in, a Changes value out.

    devstack.toml (or .env)          → reload the config
    what the deploy is made of       → redeploy, no build: the stack file and the files it names (env_file,
                                       configs, secrets); Kubernetes manifests (a file their
                                       globs match), kustomize folders and what their kustomizations name,
                                       helm charts and their values files
    under an image's context         → that image: live update when every file lies under its sync rules,
                                       else a rebuild; files .dockerignore or `ignore` excludes don't count
    a file a [[local]]'s deps match  → run that local resource again (and restart its `serve`)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.config.model import Config, ImageSpec
from devstack.errors import DevstackError, PatternError
from devstack.formats import ignore
from devstack.providers import registry


@dataclass
class Changes:
    config: bool = False
    deploy: bool = False
    rebuild: dict[str, list[Path]] = field(default_factory=dict)  # image name → files
    live: dict[str, list[Path]] = field(default_factory=dict)  # image name → files to sync
    local: dict[str, list[Path]] = field(default_factory=dict)  # [[local]] resource → files of its deps

    def __bool__(self) -> bool:
        return self.config or self.deploy or bool(self.rebuild) or bool(self.live) or bool(self.local)

    def merge(self, other: Changes) -> None:
        """Batch changes that arrived while a cycle ran: none lost, none run twice."""
        self.config |= other.config
        self.deploy |= other.deploy
        for name, files in other.rebuild.items():
            # A rebuild supersedes a pending sync of the same image; its files join the rebuild.
            pending = self.live.pop(name, [])
            self.rebuild.setdefault(name, []).extend(f for f in [*pending, *files] if f not in self.rebuild[name])
        for name, files in other.live.items():
            if name in self.rebuild:
                self.rebuild[name].extend(f for f in files if f not in self.rebuild[name])
            else:
                self.live.setdefault(name, []).extend(f for f in files if f not in self.live[name])
        for name, files in other.local.items():
            self.local.setdefault(name, []).extend(f for f in files if f not in self.local[name])


def roots(config: Config) -> list[Path]:
    """The folders to watch: the project's, and every image context and deploy input that lies outside it (the
    demo's Kubernetes profile builds `../relay`), none inside another."""
    inputs = registry.deploy_inputs(config)
    wanted = [config.root, *(image.context for image in config.images.values()), *inputs.folders,
              *(path.parent for path in inputs.files), *(_fixed_part(pattern) for pattern in inputs.patterns),
              *(_fixed_part(pattern) for local in config.local for pattern in local.deps)]
    found: list[Path] = []
    for folder in sorted({w.resolve() for w in wanted if w.is_dir()}, key=lambda p: (len(p.parts), str(p))):
        if not any(folder.is_relative_to(kept) for kept in found):
            found.append(folder)
    return found


def _fixed_part(pattern: str) -> Path:
    """The folder of a glob up to its first wildcard: /a/b/*.yaml → /a/b."""
    parts = Path(pattern).parts
    fixed = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), len(parts) - 1)
    return Path(*parts[:fixed]) if fixed else Path(pattern).parent


def classify(config: Config, paths: Iterable[Path]) -> Changes:
    changes = Changes()
    patterns = {name: _patterns(image) for name, image in config.images.items()}  # read once per batch
    deploy_inputs = registry.deploy_inputs(config)  # the provider says what its deploy is made of
    for path in paths:
        if path in (config.file, config.root / ".env"):
            changes.config = True
        elif path in deploy_inputs:
            changes.deploy = True
        for image in config.images.values():
            if _counts_for(image, path, patterns[image.name]):
                kind = changes.live if _synced(image, path) else changes.rebuild
                kind.setdefault(image.name, []).append(path)
        for local in config.local:
            if any(matches(path, pattern) for pattern in local.deps):
                changes.local.setdefault(local.name, []).append(path)
    for name in list(changes.live):
        if name in changes.rebuild:  # one file needs a rebuild: the whole image is rebuilt
            changes.rebuild[name] += changes.live.pop(name)
    return changes


def matches(path: Path, pattern: str) -> bool:
    """A [[local]] deps glob: `*` within a folder's name, `**/` any folders (none included), a folder itself all
    that lies under it."""
    text = str(path)
    if fnmatch.fnmatchcase(text, pattern) or fnmatch.fnmatchcase(text, pattern.replace("**/", "")):
        return "**" in pattern or pattern.count("/") == text.count("/")
    return Path(pattern).is_dir() and path.is_relative_to(pattern)


def _patterns(image: ImageSpec) -> ignore.Matcher | None:
    """The image's ignore rules; None when its .dockerignore was just broken by an edit: then every file of the
    context counts, and the rebuild it triggers reports the error."""
    try:
        return ignore.Matcher(ignore.read(image.context) + ignore.parse(image.ignore))
    except (DevstackError, PatternError):
        return None


def _counts_for(image: ImageSpec, path: Path, patterns: ignore.Matcher | None) -> bool:
    # The Dockerfile, and the .dockerignore that decides what is sent, count even when they exclude themselves.
    if path in (image.dockerfile, image.context / ".dockerignore"):
        return True
    if not path.is_relative_to(image.context):
        return False
    return patterns is None or not patterns.excluded(path.relative_to(image.context).as_posix())


def _synced(image: ImageSpec, path: Path) -> bool:
    """A file live update can carry. A deleted one cannot (nothing to copy): that takes a rebuild."""
    return path.is_file() and sync_target(image, path) is not None


def sync_target(image: ImageSpec, path: Path) -> str | None:
    """Where a synced file goes in the container, by the first rule whose local path holds it."""
    for rule in image.live_update.sync if image.live_update else ():
        if path == rule.local:
            return rule.remote
        if path.is_relative_to(rule.local):
            return f"{rule.remote.rstrip('/')}/{path.relative_to(rule.local).as_posix()}"
    return None
