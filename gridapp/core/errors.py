"""The project's one error type for problems a user can fix, and the signal of a user's cancel."""

from __future__ import annotations


class GridappError(Exception):
    """A problem with the user's input or settings, with a hint on what to do.

    Parameters
    ----------
    message
        What is wrong, naming the file, column or value concerned.
    hint
        What the user can do about it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class Cancelled(Exception):  # noqa: N818  (a user action, not an error)
    """Raised between steps (or training epochs) when the caller asked to stop."""
