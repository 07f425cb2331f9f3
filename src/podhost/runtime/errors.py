"""Errors raised by podhost.runtime; all derive from ContainerRuntimeError."""

from __future__ import annotations


class ContainerRuntimeError(Exception):
    """A runtime operation (runc, conmon, bundle handling) failed."""


class ContainerNotFoundError(ContainerRuntimeError):
    """No container with that id is known (no bundle on disk, or runc does not know it)."""

    def __init__(self, container_id: str) -> None:
        super().__init__(f"container {container_id!r} not found")
        self.container_id = container_id


class ConmonStartError(ContainerRuntimeError):
    """conmon could not create the container; `stderr` holds what conmon/runc said."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class ExecStartError(ContainerRuntimeError):
    """An exec process could not be started (e.g. executable not found).

    The message is runc's own text, e.g. ``exec failed: unable to start container process:
    exec: "bash": executable file not found in $PATH``; `exit_code` is runc's exit status.
    """

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class SandboxError(ContainerRuntimeError):
    """A Pod sandbox's namespaces could not be created; `errno` is set when a syscall failed."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno
