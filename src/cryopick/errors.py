"""The project's exceptions: the CLI turns these (and only these) into a one-line message."""

from pathlib import Path


class CryopickError(Exception):
    """Base class of every error a user can cause with bad input or bad parameters."""


class InputError(CryopickError):
    """A file cannot be used: the message names the file and, where known, the line or field."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.field = field
        where = str(path)
        if line is not None:
            where += f":{line}"
        if field is not None:
            where += f": field {field}"
        one_line = " ".join(str(message).split())  # messages from libraries may span lines
        super().__init__(f"{where}: {one_line}")


class ConfigError(CryopickError):
    """A parameter makes no sense (negative radius, pi_U <= 0, ...): refused, never corrected."""
