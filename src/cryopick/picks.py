"""The one in-memory coordinate table every reader produces and every writer consumes.

Convention, stated once: ``x_orig_px``/``y_orig_px`` are particle *centres* in pixels of the
original micrograph, origin at the centre of the top-left pixel, x along columns, y along rows.
``micrograph`` is the micrograph's file stem (no directory, no suffix). ``score`` is NaN where a
format carries none. ``source_line`` (optional) is the 1-based line each row came from, so later
checks can name it.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Picks:
    micrograph: npt.NDArray[np.str_]
    x_orig_px: npt.NDArray[np.float64]
    y_orig_px: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    source: Path | None = None
    source_line: npt.NDArray[np.int64] | None = None

    def __post_init__(self) -> None:
        n = len(self.micrograph)
        for name in ("x_orig_px", "y_orig_px", "score"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Picks.{name} has {len(getattr(self, name))} rows, expected {n}")

    @classmethod
    def build(
        cls,
        micrograph: "list[str] | npt.ArrayLike",
        x_orig_px: npt.ArrayLike,
        y_orig_px: npt.ArrayLike,
        score: npt.ArrayLike | None = None,
        *,
        source: Path | None = None,
        source_line: npt.ArrayLike | None = None,
    ) -> "Picks":
        names = np.asarray(micrograph, dtype=np.str_).reshape(-1)
        x = np.asarray(x_orig_px, dtype=np.float64).reshape(-1)
        y = np.asarray(y_orig_px, dtype=np.float64).reshape(-1)
        s = (
            np.full(len(x), np.nan)
            if score is None
            else np.asarray(score, dtype=np.float64).reshape(-1)
        )
        lines = None if source_line is None else np.asarray(source_line, dtype=np.int64)
        return cls(names, x, y, s, source, lines)

    @classmethod
    def empty(cls) -> "Picks":
        return cls.build([], [], [], [])

    def __len__(self) -> int:
        return len(self.micrograph)

    @property
    def has_scores(self) -> bool:
        return bool(len(self)) and not bool(np.all(np.isnan(self.score)))

    def micrographs(self) -> list[str]:
        """Distinct micrograph names in order of first appearance."""
        _, first = np.unique(self.micrograph, return_index=True)
        return [str(self.micrograph[i]) for i in sorted(first)]

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> "Picks":
        return Picks(
            self.micrograph[mask],
            self.x_orig_px[mask],
            self.y_orig_px[mask],
            self.score[mask],
            self.source,
            None if self.source_line is None else self.source_line[mask],
        )

    def for_micrograph(self, name: str) -> "Picks":
        return self.select(self.micrograph == name)

    def line_of(self, row: int) -> int | None:
        return None if self.source_line is None else int(self.source_line[row])

    @staticmethod
    def concatenate(parts: "list[Picks]") -> "Picks":
        if not parts:
            return Picks.empty()
        return Picks.build(
            np.concatenate([p.micrograph for p in parts]),
            np.concatenate([p.x_orig_px for p in parts]),
            np.concatenate([p.y_orig_px for p in parts]),
            np.concatenate([p.score for p in parts]),
        )
