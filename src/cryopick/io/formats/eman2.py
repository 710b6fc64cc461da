"""EMAN2's ``<micrograph>_info.json``: box centres among e2boxer's other metadata, which a write keeps."""

import json
from pathlib import Path

from cryopick.errors import InputError
from cryopick.io._atomic import atomic_write_text
from cryopick.io._eman2 import format_info_json, read_info_json
from cryopick.io.formats._text import read_plain_text, read_text
from cryopick.picks import Picks


def read(path: Path) -> Picks:
    """Read an EMAN2 ``_info.json`` file."""
    return read_info_json(path, read_plain_text(path))


def write(path: Path, picks: Picks, *, box_size_orig_px: float | None = None) -> None:
    """Write an EMAN2 ``_info.json`` file, keeping its other metadata when it exists."""
    existing = None
    if path.is_file():  # an EMAN2 project's info file: keep its other metadata
        try:
            existing = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise InputError(path, f"exists and is not JSON ({exc.msg}); refusing to replace it",
                             line=exc.lineno) from None
        if not isinstance(existing, dict):
            raise InputError(path, "exists and is not an EMAN2 info object; refusing to replace it")
    atomic_write_text(path, format_info_json(picks, existing))
