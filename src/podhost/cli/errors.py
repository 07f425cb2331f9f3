"""CLI errors, printed once at the edge (`main`) in kubectl's wording; never a traceback.

    CliError        `message` printed as is (usually starting with `error: `), exit code 1
    └── StatusError an API Status: `Error from server (Reason): message`, Invalid rebuilt
                    from details as kubectl does
"""

from __future__ import annotations

from typing import Any


class CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def render(self) -> str:
        return self.message


class StatusError(CliError):
    def __init__(self, status: dict[str, Any], context: str = "") -> None:
        self.status = status
        self.context = context
        super().__init__(status.get("message", ""), 1)

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def code_http(self) -> int:
        return int(self.status.get("code") or 0)

    def with_context(self, context: str) -> StatusError:
        return StatusError(self.status, context)

    def render(self) -> str:
        return render_status(self.status, self.context)


def render_status(status: dict[str, Any], context: str = "") -> str:
    """kubectl's text for an error Status (cmdutil.checkErr)."""
    reason, message = status.get("reason") or "", status.get("message") or ""
    if reason == "Invalid":
        return _render_invalid(status)
    if status.get("code") == 401:
        from podhost.cli.hints import STALE_CREDENTIALS
        why = message or "the server has asked for the client to provide credentials"
        return f"error: You must be logged in to the server ({why})\n{STALE_CREDENTIALS}"
    prefix = f"Error from server ({reason}): " if reason else "Error from server: "
    return prefix + (f"{context}: " if context else "") + message


def _render_invalid(status: dict[str, Any]) -> str:
    details = status.get("details")
    if not details:
        return f"The request is invalid: {status.get('message', '')}"
    head = f"The {details.get('kind', '')} \"{details.get('name', '')}\" is invalid"
    causes = [f"{c.get('field', '')}: {c.get('message', '')}" if c.get("field")
              else c.get("message", "") for c in details.get("causes") or []]
    if not causes:
        return f"{head}: {status.get('message', '')}"
    if len(causes) == 1:
        return f"{head}: {causes[0]}"
    return head + ":\n" + "\n".join(f"* {c}" for c in causes)
