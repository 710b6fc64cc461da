"""The labelling project: labels, picks and rejected picks per micrograph, saved after every change.

Everything is in original-micrograph pixels, the coordinates RELION and every other picker read.
Layout of the project directory:

- ``labels/<micrograph>_manualpick.star`` and ``labels/coordinate_files.star``: the labels, as
  RELION's Manual Picking job writes them (``cryopick train --particles PROJECT/labels/`` reads them);
- ``app_state.json``: the rejected picks and the latest training round;
- ``rounds/round_NNN/``: each training round's labels (``labels.star``), ``model/`` and ``picks.star``.

Each change writes the one micrograph's file (and the index when a file is new) atomically before
it is acknowledged, so a crash or kill loses at most the change in flight.
"""

import json
import logging
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cryopick.config import Geometry
from cryopick.errors import InputError
from cryopick.io._atomic import atomic_write_text
from cryopick.io.coordinates import (
    MANUALPICK_NAME,
    read_all_picks,
    read_picks,
    write_coordinate_index,
    write_manualpick,
)
from cryopick.io.manifest import PreprocessManifest, read_manifest
from cryopick.picks import Picks
from cryopick.train.labels import check_labels

log = logging.getLogger(__name__)

LABELS_DIR = "labels"
STATE_NAME = "app_state.json"
ROUNDS_DIR = "rounds"
#: Undo reaches back this many changes.
UNDO_DEPTH = 1000

Point = tuple[float, float]  # (x_orig_px, y_orig_px)


class RequestError(ValueError):
    """A change refused (nothing was changed); ``status`` is the HTTP status that says why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class MicrographPicks:
    """One micrograph's picks, best first, as arrays in original pixels."""

    x_orig_px: npt.NDArray[np.float64]
    y_orig_px: npt.NDArray[np.float64]
    score: npt.NDArray[np.float64]

    @classmethod
    def none(cls) -> "MicrographPicks":
        """No picks."""
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class Change:
    """One undoable change: ``points`` added to (or removed from) a micrograph's labels or rejections."""

    micrograph: str
    kind: str  # "labels" or "rejected"
    added: bool
    points: tuple[Point, ...]


@dataclass
class _State:
    labels: dict[str, list[Point]] = field(default_factory=dict)
    rejected: dict[str, list[Point]] = field(default_factory=dict)
    picks: dict[str, MicrographPicks] = field(default_factory=dict)
    picks_round: int | None = None  # the training round the picks came from; None: given or none


def round_dir(project_dir: Path, number: int) -> Path:
    """Where training round ``number`` keeps its labels, model and picks."""
    return Path(project_dir) / ROUNDS_DIR / f"round_{number:03d}"


def _split_picks(picks: Picks, names: Iterable[str]) -> dict[str, MicrographPicks]:
    split = {}
    for name in names:
        mine = picks.for_micrograph(name)
        score = np.nan_to_num(mine.score, nan=0.0)
        order = np.argsort(-score, kind="stable")
        split[name] = MicrographPicks(mine.x_orig_px[order], mine.y_orig_px[order], score[order])
    return split


class Project:
    """The labels, picks and rejections of one preprocessed directory, kept in ``project_dir``.

    Every public method is safe to call from several threads (the server's and the trainer's).
    """

    def __init__(self, micrographs_dir: Path, project_dir: Path, *, labels: list[Path] | None = None,
                 labels_format: str | None = None, picks: list[Path] | None = None,
                 picks_format: str | None = None) -> None:
        self.micrographs_dir = Path(micrographs_dir)
        self.project_dir = Path(project_dir)
        self.labels_dir = self.project_dir / LABELS_DIR
        self.manifest: PreprocessManifest = read_manifest(self.micrographs_dir)
        self.geometry: Geometry = self.manifest.geometry
        self.names: list[str] = sorted(self.manifest.micrographs)
        if not self.names:
            raise InputError(self.micrographs_dir / "preprocess.json", "lists no micrographs")
        self._lock = threading.RLock()
        self._undo: list[Change] = []
        self._state = _State({name: [] for name in self.names}, {name: [] for name in self.names})
        self._load_labels(labels, labels_format)
        self._load_state()
        if self._state.picks_round is None and picks:
            given = read_all_picks(picks, picks_format)
            unknown = sorted(set(given.micrographs()) - set(self.names))
            if unknown:
                log.warning("%d picks name micrographs not in %s (e.g. %s): left out",
                            int(np.isin(given.micrograph, unknown).sum()), self.micrographs_dir, unknown[0])
            self._state.picks = _split_picks(given, self.names)
            log.info("%d picks from %s", len(given), ", ".join(str(p) for p in picks))

    # ---- loading and saving ------------------------------------------------------------------

    def _load_labels(self, given: list[Path] | None, fmt: str | None) -> None:
        files = sorted(self.labels_dir.glob(MANUALPICK_NAME.format("*"))) if self.labels_dir.is_dir() else []
        if files:
            if given:
                log.warning("%s already holds this project's labels: --labels is not read again", self.labels_dir)
            for path in files:
                picks = read_picks(path, "star")
                name = path.name[: -len(MANUALPICK_NAME.format(""))]
                if name not in self._state.labels:
                    log.warning("%s: micrograph %r is not in %s: its labels are kept but not shown", path, name,
                                self.micrographs_dir)
                    continue
                check_labels(picks, self.shapes_orig_px, where=f"micrographs in {self.micrographs_dir}")
                self._state.labels[name] = list(zip(picks.x_orig_px.tolist(), picks.y_orig_px.tolist(), strict=True))
            log.info("%d labels restored from %s", self.n_labels, self.labels_dir)
            return
        if given:
            picks = read_all_picks(given, fmt)
            check_labels(picks, self.shapes_orig_px, where=f"micrographs in {self.micrographs_dir}")
            for name in picks.micrographs():
                mine = picks.for_micrograph(name)
                self._state.labels[name] = list(zip(mine.x_orig_px.tolist(), mine.y_orig_px.tolist(), strict=True))
                self._save_labels(name)
            log.info("%d labels from %s", len(picks), ", ".join(str(p) for p in given))

    def _load_state(self) -> None:
        path = self.project_dir / STATE_NAME
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            rejected = {str(k): [(float(x), float(y)) for x, y in v] for k, v in data.get("rejected", {}).items()}
            picks_round = data.get("picks_round")
            picks_round = None if picks_round is None else int(picks_round)
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(path, f"malformed: {exc}") from None
        for name, points in rejected.items():
            if name in self._state.rejected:
                self._state.rejected[name] = points
        if picks_round is not None:
            picks_path = round_dir(self.project_dir, picks_round) / "picks.star"
            if picks_path.is_file():
                self._state.picks = _split_picks(read_picks(picks_path), self.names)
                self._state.picks_round = picks_round
                log.info("picks of training round %d restored from %s", picks_round, picks_path)
            else:
                log.warning("%s: round %d's picks (%s) are gone: starting without picks", path, picks_round,
                            picks_path)

    def _save_labels(self, name: str) -> None:
        points = self._state.labels[name]
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        new_file = not (self.labels_dir / MANUALPICK_NAME.format(name)).exists()
        write_manualpick(self.labels_dir, name, Picks.build([name] * len(points), xs, ys))
        if new_file:
            self._save_index()

    def _save_index(self) -> None:
        files = {}
        for name in self.names:
            path = self.labels_dir / MANUALPICK_NAME.format(name)
            if path.exists():
                record = self.manifest.micrographs[name]
                files[name] = (record.given_as or record.source, path)
        write_coordinate_index(self.labels_dir, files)

    def _save_state(self) -> None:
        data: dict[str, Any] = {
            "rejected": {name: [list(p) for p in points] for name, points in self._state.rejected.items() if points},
            "picks_round": self._state.picks_round,
        }
        atomic_write_text(self.project_dir / STATE_NAME, json.dumps(data, indent=1) + "\n")

    # ---- reading -----------------------------------------------------------------------------

    @property
    def shapes_orig_px(self) -> dict[str, tuple[int, int]]:
        """Each micrograph's (rows, columns) in original pixels."""
        return {name: record.shape_orig_px for name, record in self.manifest.micrographs.items()}

    @property
    def n_labels(self) -> int:
        """Labels on every micrograph together."""
        with self._lock:
            return sum(len(points) for points in self._state.labels.values())

    @property
    def picks_round(self) -> int | None:
        """The training round the picks shown came from (None: given with --picks, or none yet)."""
        return self._state.picks_round

    def labels(self, name: str) -> list[Point]:
        """Micrograph ``name``'s labels."""
        with self._lock:
            return list(self._state.labels[self.check_name(name)])

    def all_labels(self) -> Picks:
        """Every label, with each micrograph's path as ``preprocess`` was given it."""
        with self._lock:
            names, xs, ys = [], [], []
            for name in self.names:
                for x, y in self._state.labels[name]:
                    names.append(name)
                    xs.append(x)
                    ys.append(y)
        return Picks.build(names, xs, ys)

    def check_name(self, name: str) -> str:
        """``name`` if it is one of the micrographs served, else a 404 naming it."""
        if name not in self._state.labels:
            raise RequestError(f"unknown micrograph {name!r}: this app serves the {len(self.names)} micrographs "
                               f"of {self.micrographs_dir}", status=404)
        return name

    def check_point(self, name: str, x_orig_px: float, y_orig_px: float) -> Point:
        """The point if it lies inside micrograph ``name`` (original pixels), else a 400."""
        rows, cols = self.manifest.micrographs[self.check_name(name)].shape_orig_px
        for value, axis in ((x_orig_px, "x_orig_px"), (y_orig_px, "y_orig_px")):
            if not math.isfinite(value):
                raise RequestError(f"{axis} must be a finite number, got {value!r}")
        if not (0 <= x_orig_px <= cols - 1 and 0 <= y_orig_px <= rows - 1):
            raise RequestError(f"({x_orig_px:g}, {y_orig_px:g}) lies outside micrograph {name!r}, whose pixel "
                               f"centres run from (0, 0) to ({cols - 1}, {rows - 1}) in original pixels")
        return float(x_orig_px), float(y_orig_px)

    def _hidden(self, name: str, picks: MicrographPicks) -> npt.NDArray[np.bool_]:
        """Picks within a particle radius of a label (accepted, or labelled by hand) or of a rejection."""
        near = self.geometry.particle_radius_orig_px
        hidden = np.zeros(len(picks.score), dtype=bool)
        for x, y in [*self._state.labels[name], *self._state.rejected[name]]:
            hidden |= (picks.x_orig_px - x) ** 2 + (picks.y_orig_px - y) ** 2 <= near**2
        return hidden

    def open_picks(self, name: str) -> MicrographPicks:
        """Micrograph ``name``'s picks that are neither labelled nor rejected, best first."""
        with self._lock:
            picks = self._state.picks.get(self.check_name(name), MicrographPicks.none())
            keep = ~self._hidden(name, picks)
            return MicrographPicks(picks.x_orig_px[keep], picks.y_orig_px[keep], picks.score[keep])

    def score_range(self) -> tuple[float, float] | None:
        """The lowest and highest pick score, or None without picks."""
        with self._lock:
            scores = [p.score for p in self._state.picks.values() if len(p.score)]
        if not scores:
            return None
        joined = np.concatenate(scores)
        return float(joined.min()), float(joined.max())

    def summary(self, threshold: float) -> list[dict[str, Any]]:
        """Per micrograph: its name, sizes, label count and open picks at or above ``threshold``."""
        rows = []
        for name in self.names:
            picks = self.open_picks(name)
            record = self.manifest.micrographs[name]
            rows.append({"name": name, "n_labels": len(self.labels(name)),
                         "n_picks": int(np.count_nonzero(picks.score >= threshold)),
                         "shape_orig_px": list(record.shape_orig_px), "shape_px": list(record.shape_px)})
        return rows

    # ---- changing ----------------------------------------------------------------------------

    def _apply(self, change: Change, *, undoable: bool = True) -> None:
        store = self._state.labels if change.kind == "labels" else self._state.rejected
        points = store[change.micrograph]
        if change.added:
            points.extend(change.points)
        else:
            for point in change.points:
                points.remove(point)
        if change.kind == "labels":
            self._save_labels(change.micrograph)
        else:
            self._save_state()
        if undoable:
            self._undo.append(change)
            del self._undo[:-UNDO_DEPTH]

    def add_label(self, name: str, x_orig_px: float, y_orig_px: float) -> None:
        """Label a particle centre."""
        with self._lock:
            point = self.check_point(name, x_orig_px, y_orig_px)
            if point in self._state.labels[name]:
                raise RequestError(f"({point[0]:g}, {point[1]:g}) is already labelled on {name!r}", status=409)
            self._apply(Change(name, "labels", True, (point,)))

    def _nearest(self, points: list[Point], x_orig_px: float, y_orig_px: float) -> int | None:
        if not points:
            return None
        xy = np.asarray(points, dtype=np.float64)
        distance = np.hypot(xy[:, 0] - x_orig_px, xy[:, 1] - y_orig_px)
        best = int(np.argmin(distance))
        return best if distance[best] <= self.geometry.particle_radius_orig_px else None

    def remove_label(self, name: str, x_orig_px: float, y_orig_px: float) -> Point:
        """Remove the label nearest to the point, within a particle radius; returns it."""
        with self._lock:
            self.check_point(name, x_orig_px, y_orig_px)
            index = self._nearest(self._state.labels[name], x_orig_px, y_orig_px)
            if index is None:
                raise RequestError(f"no label on {name!r} within a particle radius "
                                   f"({self.geometry.particle_radius_orig_px:g} px) of ({x_orig_px:g}, {y_orig_px:g})",
                                   status=404)
            point = self._state.labels[name][index]
            self._apply(Change(name, "labels", False, (point,)))
            return point

    def _chosen_picks(self, name: str, *, point: Point | None, min_score: float | None) -> tuple[Point, ...]:
        picks = self.open_picks(name)
        if point is not None:
            index = self._nearest(list(zip(picks.x_orig_px.tolist(), picks.y_orig_px.tolist(), strict=True)), *point)
            if index is None:
                raise RequestError(f"no open pick on {name!r} within a particle radius of ({point[0]:g}, "
                                   f"{point[1]:g})", status=404)
            return ((float(picks.x_orig_px[index]), float(picks.y_orig_px[index])),)
        assert min_score is not None
        chosen = picks.score >= min_score
        return tuple(zip(picks.x_orig_px[chosen].tolist(), picks.y_orig_px[chosen].tolist(), strict=True))

    def judge_picks(self, name: str, *, accept: bool, point: Point | None = None,
                    min_score: float | None = None) -> int:
        """Accept picks into the labels, or reject them (hidden from now on); returns how many.

        One pick (the open pick nearest ``point``, within a particle radius) or every open pick
        scoring at least ``min_score``.
        """
        if (point is None) == (min_score is None):
            raise RequestError("give either a point (x_orig_px, y_orig_px) or min_score")
        if min_score is not None and not math.isfinite(min_score):
            raise RequestError(f"min_score must be a finite number, got {min_score!r}")
        with self._lock:
            if point is not None:
                point = self.check_point(name, *point)
            chosen = self._chosen_picks(self.check_name(name), point=point, min_score=min_score)
            if chosen:
                self._apply(Change(name, "labels" if accept else "rejected", True, chosen))
            return len(chosen)

    def undo(self) -> Change:
        """Undo the last change (saved like any other); returns what was undone."""
        with self._lock:
            if not self._undo:
                raise RequestError("nothing to undo", status=409)
            change = self._undo.pop()
            self._apply(Change(change.micrograph, change.kind, not change.added, change.points), undoable=False)
            return change

    def set_picks(self, picks: Picks, picks_round: int | None) -> None:
        """Show ``picks`` (a training round's) from now on; the round is remembered across restarts."""
        with self._lock:
            self._state.picks = _split_picks(picks, self.names)
            self._state.picks_round = picks_round
            self._save_state()
