""""Train" in the background: ``run_train`` then ``run_extract``, in a thread, with progress.

Each round snapshots the labels (``rounds/round_NNN/labels.star``), trains exactly as ``cryopick
train`` does from them (the same function, the same defaults) into ``round_NNN/model/``, picks
every micrograph with it as ``cryopick extract`` does into ``round_NNN/picks.star``, and hands
the picks to the project. The server keeps answering meanwhile: PyTorch releases the GIL in its
kernels, and the command line leaves a core free for the server (see ``cryopick.cli.app``).
"""

import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryopick.app.project import Project, RequestError, round_dir
from cryopick.config import AppConfig, ExtractConfig, TrainConfig
from cryopick.errors import CryopickError
from cryopick.io.coordinates import read_picks, write_picks
from cryopick.picks import MicrographInfo, Picks
from cryopick.workflows.extract import run_extract
from cryopick.workflows.train import run_train

log = logging.getLogger(__name__)

#: The training loop's logger, whose per-epoch and periodic lines carry the progress.
TRAINING_LOGGER = "cryopick.train.loop"


@dataclass
class TrainingStatus:
    """What the page shows of the background job."""

    state: str = "idle"  # idle, running, done or failed
    phase: str = ""  # training, picking
    round: int | None = None
    progress: float = 0.0  # 0 to 1 over training and picking together
    message: str = ""
    n_labels: int = 0
    started_s: float | None = None  # time.time() at the start
    seconds: float | None = None  # from "Train" to the new picks, once done


class _ProgressFromLog(logging.Handler):
    """Progress from the training loop's own log lines, read from their arguments, not their text.

    ``epoch %d: step %d of %d ...`` (at least every 30 s) and ``epoch %d: loss ...`` (each epoch's end).
    """

    def __init__(self, status: TrainingStatus, epochs: int, thread: int, lock: threading.Lock) -> None:
        super().__init__(logging.INFO)
        # not `self.lock`: logging.Handler holds its own lock under that name while it emits
        self.status, self.epochs, self.thread, self.status_lock = status, epochs, thread, lock

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.thread != self.thread or not str(record.msg).startswith("epoch %d") or not args:
            return
        numbers = [float(a) if isinstance(a, (int, float)) else 0.0 for a in args]
        epoch = int(numbers[0])
        if str(record.msg).startswith("epoch %d: step") and len(numbers) >= 3:
            done = (epoch - 1 + numbers[1] / max(1.0, numbers[2])) / self.epochs
        else:
            done = epoch / self.epochs
        with self.status_lock:
            self.status.progress = max(self.status.progress, TRAINING_SHARE * min(1.0, done))
            self.status.message = f"training: epoch {epoch} of {self.epochs}"


#: The share of the progress bar that training takes (picking every micrograph the rest).
TRAINING_SHARE = 0.9


class Trainer:
    """Runs one training round (or one picking run) at a time in a background thread."""

    def __init__(self, project: Project, config: AppConfig, *, command: list[str] | None = None) -> None:
        self.project = project
        self.config = config
        self.command = command
        self._lock = threading.Lock()
        self._status = TrainingStatus() if project.picks_round is None else TrainingStatus(
            round=project.picks_round, message=f"picks of round {project.picks_round} (restored)")
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        """The job's state, progress and message, with the seconds it has run."""
        with self._lock:
            status = asdict(self._status)
        if status["state"] == "running" and status["started_s"] is not None:
            status["elapsed_s"] = round(time.time() - status["started_s"], 1)
        return status

    @property
    def running(self) -> bool:
        """Whether a round is under way."""
        with self._lock:
            return self._status.state == "running"

    def _next_round(self) -> int:
        rounds = self.project.project_dir / "rounds"
        taken = [int(p.name[len("round_"):]) for p in rounds.glob("round_*") if p.name[len("round_"):].isdigit()] \
            if rounds.is_dir() else []
        return max(taken, default=0) + 1

    def _begin(self, phase: str, message: str, number: int) -> None:
        with self._lock:
            if self._status.state == "running":
                raise RequestError(f"round {self._status.round} is still {self._status.phase}: wait for it to "
                                   "finish", status=409)
            self._status = TrainingStatus("running", phase, number, 0.0, message, self.project.n_labels, time.time())

    def start_training(self, expected_particles_per_micrograph: float) -> dict[str, Any]:
        """Train a new round from the labels as they are now, then pick with it; returns the status."""
        train_config = TrainConfig(expected_particles_per_micrograph=expected_particles_per_micrograph,
                                   epochs=self.config.epochs, steps_per_epoch=self.config.steps_per_epoch,
                                   device=self.config.device)
        labels = self.project.all_labels()
        if not len(labels):
            raise RequestError("no labels yet: click on a few particles first")
        number = self._next_round()
        self._begin("training", f"training on {len(labels)} labels", number)
        self._start(self._train_round, number, train_config, labels)
        return self.status()

    def start_picking(self, model_dir: Path) -> dict[str, Any]:
        """Pick every micrograph with a given model (round 0), in the background."""
        self._begin("picking", f"picking with {model_dir}", 0)
        self._start(self._pick_round, 0, model_dir)
        return self.status()

    def _start(self, target: Any, *args: Any) -> None:
        self._thread = threading.Thread(target=self._guarded, args=(target, *args), name="cryopick-app-train",
                                        daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> None:
        """Wait for the running round (tests and scripts)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _guarded(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except CryopickError as exc:
            log.error("round %s failed: %s", self._status.round, exc)
            self._finish("failed", str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug: keep the traceback in the log, tell the page
            log.exception("round %s failed", self._status.round)
            self._finish("failed", f"{type(exc).__name__}: {exc}")

    def _finish(self, state: str, message: str) -> None:
        with self._lock:
            self._status.state = state
            self._status.message = message
            if self._status.started_s is not None:
                self._status.seconds = round(time.time() - self._status.started_s, 2)
            if state == "done":
                self._status.progress = 1.0

    def _train_round(self, number: int, train_config: TrainConfig, labels: Picks) -> None:
        directory = round_dir(self.project.project_dir, number)
        labels_path = directory / "labels.star"
        write_picks(labels_path, labels.with_info({  # named as `preprocess` was given them, as RELION does
            name: MicrographInfo(record.given_as or record.source, record.shape_orig_px)
            for name, record in self.project.manifest.micrographs.items()}))
        loop_log = logging.getLogger(TRAINING_LOGGER)
        progress = _ProgressFromLog(self._status, train_config.epochs, threading.get_ident(), self._lock)
        loop_log.addHandler(progress)
        try:
            run_train(train_config, self.project.micrographs_dir, [labels_path], directory / "model", quiet=True,
                      command=self.command, init_model=self.config.init)
        finally:
            loop_log.removeHandler(progress)
        with self._lock:
            self._status.phase = "picking"
            self._status.progress = TRAINING_SHARE
            self._status.message = "picking every micrograph with the new model"
        self._pick_round(number, directory / "model")

    def _pick_round(self, number: int, model_dir: Path) -> None:
        picks_path = round_dir(self.project.project_dir, number) / "picks.star"
        run_extract(ExtractConfig(device=self.config.device), model_dir, [self.project.micrographs_dir],
                    picks_path, quiet=True)
        picks = read_picks(picks_path)
        self.project.set_picks(picks, number)
        self._finish("done", f"round {number}: {len(picks)} picks")
        log.info("round %d: %d picks in %.1f s", number, len(picks), self.status()["seconds"] or 0.0)

