"""The errors devstack raises on purpose, all of them. The CLI's one error boundary turns each into a message
and an exit code.

    DevstackError                exit 1: something failed; the message says what and what to do next
    ├── ConfigError              exit 2: devstack.toml (or a file it names) is wrong; names the file and key path
    ├── UsageError               exit 2: a command-line argument is wrong
    ├── TemporaryError           the cause is outside the project's files: the daemon retries with backoff
    │   ├── EngineUnavailable    the Docker engine (or cluster API) cannot be reached, or is not ready yet
    │   ├── RegistryUnavailable  the cluster's image registry could not be reached during a push
    │   └── PortInUse            a port devstack must bind or publish is held by another process
    ├── ContextError             a file or folder of a build context cannot be read; names it
    ├── BuildError               an image failed to build; names the image, the step and the last output
    ├── OfflineBaseError         an offline base image could not be made; says what to do next
    │   ├── DebootstrapMissing   install it: apt-get install -y debootstrap
    │   ├── NotRoot              run as root
    │   ├── DebootstrapFailed    carries `tail`: the last lines of debootstrap's output and log
    │   ├── ImportFailed         tar or the engine failed while importing
    │   └── InstallFailed        apt-get failed in the chroot; carries the output's tail
    ├── ContextRefused           a kubeconfig context outside the allow-list of local dev clusters
    ├── ToolMissing              a command devstack runs (kind, k3d, minikube, helm, kubectl) is not installed
    ├── DeployError              a stack or manifest could not be applied
    │   └── ApiError             the Kubernetes API answered with an error; carries `status`
    ├── ReadinessError           a resource did not become ready; names it, the reason and its last log lines
    ├── SmokeFailed              one or more smoke tests failed
    └── DaemonNotServing         the daemon's control socket refuses: it is stopping, or died a moment ago

Every other DevstackError is permanent: its cause is in the files, so the daemon waits for the next change.

Inside devstack, never shown as they are:

    Interrupted (BaseException)  unwinds blocking work that was cancelled (Ctrl-C), like KeyboardInterrupt
    CheckFailed (Exception)      a smoke check's `expected` versus `got`; the runner makes it a failed result
    ValueError
    ├── InterpolationError       a ${VAR} is missing or malformed; the caller adds the file and key
    ├── ListError                a Debian package list is malformed; the caller adds the file
    ├── InvalidReference         an image reference breaks Docker's grammar
    └── PatternError             a .dockerignore pattern Docker refuses

Anything else escaping to the CLI is a bug: it exits 3 and writes a crash report.
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


class RegistryUnavailable(TemporaryError):
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
    def __init__(self, message: str, results: list[dict[str, object]] | None = None) -> None:
        super().__init__(message)
        self.results = results or []  # every test's result as data, for snapshots


class DaemonNotServing(DevstackError):
    """A command that only asks the daemon for more (status) carries on without it; down waits for its end."""


class ContextRefused(DevstackError):
    pass


class ToolMissing(DevstackError):
    def __init__(self, tool: str, needed_for: str, hint: str) -> None:
        self.tool = tool
        super().__init__(f"the `{tool}` command is not installed (or not on PATH); devstack needs it {needed_for}: "
                         + hint)


class ApiError(DeployError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


class OfflineBaseError(DevstackError):
    """The base image could not be made. `str(err)` is the whole message."""


class DebootstrapMissing(OfflineBaseError):
    pass


class NotRoot(OfflineBaseError):
    pass


class DebootstrapFailed(OfflineBaseError):
    def __init__(self, reason: str, tail: list[str]) -> None:
        self.reason, self.tail = reason, tail
        super().__init__("\n".join([f"debootstrap failed: {reason}", *(f"  | {line}" for line in tail)]))


class ImportFailed(OfflineBaseError):
    pass


class InstallFailed(OfflineBaseError):
    def __init__(self, step: str, reason: str, tail: list[str]) -> None:
        self.step, self.reason, self.tail = step, reason, tail
        super().__init__("\n".join([f"{step} failed in the offline base: {reason}", *(f"  | {t}" for t in tail)]))


class CheckFailed(Exception):
    """Raised inside a check: `expected` versus `got`, both safe to print (no secrets). `resources` names the
    components at fault, whose last log lines are shown; by default, the test's own `resource`."""

    def __init__(self, expected: str, got: str, resources: tuple[str, ...] = ()) -> None:
        super().__init__(f"expected {expected}, got {got}")
        self.expected, self.got, self.resources = expected, got, resources


class InterpolationError(ValueError):
    """A variable is missing or a `$` is malformed; the caller adds the file and key."""


class ListError(ValueError):
    """A line of the list is not a package name: `str(err)` says which line and why."""


class InvalidReference(ValueError):
    """Not a reference Docker accepts; the message is Docker's reason."""


class PatternError(ValueError):
    """A pattern Docker refuses; `line` is its 1-based position in the list it came from."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line
