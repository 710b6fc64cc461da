"""The one in-memory coordinate table every reader produces and every writer consumes.

Convention, stated once: ``x_orig_px``/``y_orig_px`` are particle *centres* in pixels of the
original micrograph, origin at the centre of the top-left pixel, x along columns, y along rows.
``micrograph`` is the micrograph's file stem (no directory, no suffix). ``score`` is NaN where a
format carries none. ``source_line`` (optional) is the 1-based line each row came from, so later
checks can name it. ``info`` holds what a file said about each micrograph (its path as the other
program knows it, its size), which RELION and cryoSPARC outputs need.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class MicrographInfo:
    """A micrograph as the programs downstream name it."""

    path: str  # as RELION/cryoSPARC know it, e.g. MotionCorr/job002/Movies/mic_001.mrc
    shape_orig_px: tuple[int, int] | None = None  # (rows, columns) of the original micrograph
    pixel_size_A: float | None = None


@dataclass(frozen=True)
class Picks:
    """Particle picks of any number of micrographs, one row per pick, in original pixels."""

    micrograph: npt.NDArray[np.str_]
    x_orig_px: npt.NDArray[np.float64]
    y_orig_px: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]
    source: Path | None = None
    source_line: npt.NDArray[np.int64] | None = None
    info: Mapping[str, MicrographInfo] = field(default_factory=dict)

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
        info: Mapping[str, MicrographInfo] | None = None,
    ) -> "Picks":
        """Picks from array-likes, with nan scores where none are given."""
        names = np.asarray(micrograph, dtype=np.str_).reshape(-1)
        x = np.asarray(x_orig_px, dtype=np.float64).reshape(-1)
        y = np.asarray(y_orig_px, dtype=np.float64).reshape(-1)
        s = (
            np.full(len(x), np.nan)
            if score is None
            else np.asarray(score, dtype=np.float64).reshape(-1)
        )
        lines = None if source_line is None else np.asarray(source_line, dtype=np.int64)
        return cls(names, x, y, s, source, lines, dict(info or {}))

    @classmethod
    def empty(cls) -> "Picks":
        """Picks with no rows."""
        return cls.build([], [], [], [])

    def __len__(self) -> int:
        return len(self.micrograph)

    @property
    def has_scores(self) -> bool:
        """Whether any pick carries a score (read files may have none)."""
        return bool(len(self)) and not bool(np.all(np.isnan(self.score)))

    def micrographs(self) -> list[str]:
        """Distinct micrograph names in order of first appearance."""
        _, first = np.unique(self.micrograph, return_index=True)
        return [str(self.micrograph[i]) for i in sorted(first)]

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> "Picks":
        """The rows that ``mask`` (booleans or indices) selects, with their source lines."""
        return Picks(
            self.micrograph[mask],
            self.x_orig_px[mask],
            self.y_orig_px[mask],
            self.score[mask],
            self.source,
            None if self.source_line is None else self.source_line[mask],
            self.info,
        )

    def with_info(self, info: Mapping[str, MicrographInfo], *, override: bool = False) -> "Picks":
        """The same picks, with ``info`` filling in what is known already (or replacing it)."""
        return replace(self, info={**self.info, **info} if override else {**info, **self.info})

    def known_micrographs(self) -> list[str]:
        """Micrographs with picks, then those only described in ``info`` (picked, none found)."""
        with_picks = self.micrographs()
        return with_picks + sorted(set(self.info) - set(with_picks))

    def scaled(self, factor: float) -> "Picks":
        """Coordinates (and recorded micrograph sizes) multiplied by ``factor``: between binnings."""
        info = {
            name: replace(
                record,
                shape_orig_px=None if record.shape_orig_px is None
                else (int(round(record.shape_orig_px[0] * factor)), int(round(record.shape_orig_px[1] * factor))),
                pixel_size_A=None if record.pixel_size_A is None else record.pixel_size_A / factor,
            )
            for name, record in self.info.items()
        }
        return replace(self, x_orig_px=self.x_orig_px * factor, y_orig_px=self.y_orig_px * factor, info=info)

    def for_micrograph(self, name: str) -> "Picks":
        """The picks of micrograph ``name``."""
        return self.select(self.micrograph == name)

    def line_of(self, row: int) -> int | None:
        """The source file's line number of ``row``, for error messages; None when not read from a file."""
        return None if self.source_line is None else int(self.source_line[row])

    @staticmethod
    def concatenate(parts: "list[Picks]") -> "Picks":
        """Picks of several parts as one, their micrograph infos merged."""
        if not parts:
            return Picks.empty()
        info: dict[str, MicrographInfo] = {}
        for part in parts:
            info.update(part.info)
        return Picks.build(
            np.concatenate([p.micrograph for p in parts]),
            np.concatenate([p.x_orig_px for p in parts]),
            np.concatenate([p.y_orig_px for p in parts]),
            np.concatenate([p.score for p in parts]),
            info=info,
        )
