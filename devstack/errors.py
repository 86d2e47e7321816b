"""The errors devstack raises on purpose. The CLI's one error boundary turns each into a message and an exit code.

    DevstackError                exit 1: something failed; the message says what and what to do next
    ├── ConfigError              exit 2: devstack.toml (or a file it names) is wrong; names the file and key path
    ├── UsageError               exit 2: a command-line argument is wrong
    ├── TemporaryError           the cause is outside the project's files: the daemon retries with backoff
    │   ├── EngineUnavailable    the Docker engine (or cluster API) cannot be reached, or is not ready yet
    │   └── PortInUse            a port devstack must bind or publish is held by another process
    ├── ContextError             a file or folder of a build context cannot be read; names it
    ├── BuildError               an image failed to build; names the image, the step and the last output
    ├── DeployError              a stack or manifest could not be applied
    ├── ReadinessError           a resource did not become ready; names it, the reason and its last log lines
    └── SmokeFailed              one or more smoke tests failed

Every other DevstackError is permanent: its cause is in the files, so the daemon waits for the next change.
Interrupted (a BaseException, like KeyboardInterrupt) unwinds blocking work that was cancelled; it never
reaches the user. Anything else escaping to the CLI is a bug: it exits 3 and writes a crash report.
"""

from __future__ import annotations


class DevstackError(Exception):
    """A failure the user can act on. `str(err)` is the whole message."""

    exit_code = 1


class ConfigError(DevstackError):
    exit_code = 2

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        where = f"{file}: {key}" if key else file
        super().__init__(f"{where}: {problem}")


class UsageError(DevstackError):
    exit_code = 2


class TemporaryError(DevstackError):
    """Retrying later, with no edit, may succeed."""


class EngineUnavailable(TemporaryError):
    pass


class PortInUse(TemporaryError):
    pass


class Interrupted(BaseException):
    """Raised inside blocking work whose caller was cancelled (Ctrl-C, SIGTERM, `devstack down`)."""


def is_temporary(err: BaseException) -> bool:
    return isinstance(err, TemporaryError)


class ContextError(DevstackError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: cannot read it for the build context: {reason} (Docker would stop here too; "
                         "fix its permissions or exclude it in .dockerignore)")


class BuildError(DevstackError):
    def __init__(self, image: str, step: str, tail: list[str], reason: str) -> None:
        self.image, self.step, self.tail = image, step, tail
        lines = [f"image '{image}' failed to build at {step or 'an unknown step'}: {reason}"]
        lines += [f"  | {line}" for line in tail]
        super().__init__("\n".join(lines))


class DeployError(DevstackError):
    pass


class ReadinessError(DevstackError):
    def __init__(self, resource: str, reason: str, logs: list[str] | None = None) -> None:
        self.resource, self.reason, self.logs = resource, reason, logs or []
        lines = [f"{resource}: not ready: {reason}"]
        if self.logs:
            lines.append(f"  last log lines of {resource}:")
            lines += [f"  | {line}" for line in self.logs]
        super().__init__("\n".join(lines))


class SmokeFailed(DevstackError):
    pass
