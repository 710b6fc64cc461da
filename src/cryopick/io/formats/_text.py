"""Reading a coordinate file as text, with the errors every text format shares."""

from pathlib import Path

from cryopick.errors import InputError


def read_text(path: Path) -> str:
    """The file as UTF-8 text; missing, a directory, binary or NUL-bearing is an ``InputError``."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, expected a coordinate file") from None
    except UnicodeDecodeError as exc:
        raise InputError(path, f"not a text file (byte {exc.start} is not UTF-8)") from None
    return text


def read_plain_text(path: Path) -> str:
    """As :func:`read_text`, refusing NUL bytes (a binary file that happens to decode)."""
    text = read_text(path)
    if "\x00" in text:
        raise InputError(path, "not a text file (contains NUL bytes)")
    return text
