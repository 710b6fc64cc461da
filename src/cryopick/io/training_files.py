"""The files a training run leaves beside its model: the k-fold table and the checkpoints' folder.

``tuning.csv`` is the cross-validation table for people; ``tuning.json`` is its record with what
it was made from, so that ``--resume`` reuses it only for the same inputs and settings. Epoch
checkpoints (see :func:`cryopick.io.model_files.save_checkpoint`) go in ``checkpoint/``.
"""

import json
import logging
from pathlib import Path
from typing import Any

from cryopick.io._atomic import atomic_write_text

log = logging.getLogger(__name__)

TUNING_NAME = "tuning"
CHECKPOINT_DIR = "checkpoint"


def saved_tuning(output_dir: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The cross-validation record saved in ``output_dir`` by a run of the same ``identity``, or None."""
    json_path = output_dir / f"{TUNING_NAME}.json"
    if json_path.exists():
        saved = json.loads(json_path.read_text())
        if saved.get("identity") == identity:
            log.info("--resume: reusing the cross-validation table in %s", json_path)
            return dict(saved["tuning"])
    return None


def write_tuning(output_dir: Path, identity: dict[str, Any], record: dict[str, Any], table_csv: str) -> None:
    """Write the table as tuning.csv and its record (with ``identity``) as tuning.json, each atomically."""
    atomic_write_text(output_dir / f"{TUNING_NAME}.csv", table_csv)
    atomic_write_text(output_dir / f"{TUNING_NAME}.json",
                      json.dumps({"identity": identity, "tuning": record}, indent=1) + "\n")
