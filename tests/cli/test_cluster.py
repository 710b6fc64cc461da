"""Extraction on a Dask cluster (loopback, local worker processes), resuming, and --watch: the
picks are always byte-identical to one uninterrupted in-process run. Also the batched path a GPU
takes, run on the CPU: the same picks."""

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mrcfile
import numpy as np
import pytest
import starfile
import torch

from cryopick.cli.main import main
from cryopick.cluster import ClusterConfig
from cryopick.config import ExtractConfig
from cryopick.io.coordinates import read_picks, write_picks
from cryopick.io.micrographs import write_mrc
from cryopick.io.results import RESULTS_DIR
from cryopick.picks import Picks
from cryopick.synthetic import make_micrograph
from cryopick.workflows.extract import run_extract
from cryopick.workflows.extractor import Extractor

distributed = pytest.importorskip("distributed")

N_MICROGRAPHS = 12
SIZE_PX = 640


@pytest.fixture(scope="module")
def picking(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quickly trained model, and raw micrographs big enough that picking them takes seconds."""
    root = tmp_path_factory.mktemp("cluster")
    lines = ["image_name\tx_coord\ty_coord"]
    for index in range(N_MICROGRAPHS):
        mic = make_micrograph((SIZE_PX, SIZE_PX), n_particles=120, diameter_px=20, snr=0.3, n_distractors=6,
                              seed=500 + index)
        name = f"mic{index:02d}"
        write_mrc(root / "raw" / f"{name}.mrc", mic.image, pixel_size_A=2.0)
        if index < 2:
            write_mrc(root / "train_raw" / f"{name}.mrc", mic.image, pixel_size_A=2.0)
            lines += [f"{name}\t{x:.2f}\t{y:.2f}" for y, x in mic.centres_px]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    assert main(["preprocess", str(root / "train_raw"), "--particle-diameter-A", "40", "-o", str(root / "work"),
                 "-q"]) == 0
    assert main(["train", "--micrographs", str(root / "work"), "--particles", str(root / "train.txt"), "-n", "120",
                 "--num-labeled", "60", "--epochs", "1", "--steps-per-epoch", "20", "--batch-size", "64",
                 "--units", "8", "-o", str(root / "model"), "-q"]) == 0
    assert main(["extract", "--model", str(root / "model"), "--micrographs", str(root / "raw"),
                 "-o", str(root / "reference" / "picks.txt"), "-q"]) == 0
    return root


def _extract_command(root: Path, output: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cryopick.cli.main", "extract", "--model", str(root / "model"), "-o", str(output),
            "-q", *extra]


def _interruptible(command: list[str], **kwargs) -> subprocess.Popen:
    """Start ``command`` with Ctrl-C's default disposition, as a terminal gives it.

    A shell starts background jobs (``make test &``, a CI runner's script) with SIGINT ignored, and
    children inherit that: Python then installs no KeyboardInterrupt handler, and the SIGINT these
    tests send would be ignored, whatever cryopick does.
    """
    return subprocess.Popen(command, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def _done(output: Path) -> int:
    return len(list((output.parent / RESULTS_DIR / output.name).glob("*.json")))


@pytest.mark.slow
def test_local_cluster_of_two_workers_gives_the_same_picks(picking: Path) -> None:
    output = picking / "two_workers" / "picks.txt"
    assert main(["extract", "--model", str(picking / "model"), "--micrographs", str(picking / "raw"),
                 "-o", str(output), "--workers", "2", "-q"]) == 0
    assert output.read_bytes() == (picking / "reference" / "picks.txt").read_bytes()


@pytest.mark.slow
def test_a_worker_killed_mid_run_still_gives_the_same_picks(picking: Path) -> None:
    output = picking / "killed_worker" / "picks.txt"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0",
                                  env={"OMP_NUM_THREADS": "1"}) as cluster, distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        errors: list[BaseException] = []

        def extract() -> None:
            try:
                run_extract(ExtractConfig(), picking / "model", [picking / "raw"], output, quiet=True,
                            cluster=ClusterConfig(scheduler=cluster.scheduler_address))
            except BaseException as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        thread = threading.Thread(target=extract)
        thread.start()
        deadline = time.monotonic() + 120
        while _done(output) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _done(output) < N_MICROGRAPHS, "the run finished before a worker could be killed"
        victim = sorted(pids.values())[0]
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
        assert not errors, errors
        assert victim not in client.run(os.getpid).values()  # it died; Dask's nanny started another
    assert output.read_bytes() == (picking / "reference" / "picks.txt").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["in-process", "two-workers"])
def test_kill_9_then_rerun_gives_the_same_picks(picking: Path, workers: list[str]) -> None:
    output = picking / f"killed_run{len(workers)}" / "picks.txt"
    command = _extract_command(picking, output, "--micrographs", str(picking / "raw"), *workers)
    run = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _done(output) < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(run.pid, signal.SIGKILL)  # the whole run: the command and any workers it started
    run.wait()
    assert not output.exists()  # killed before the end: no output that looks complete
    done_before = _done(output)
    assert 3 <= done_before < N_MICROGRAPHS
    verbose = ["-v" if word == "-q" else word for word in command]  # the same command, saying what it skips
    rerun = subprocess.run(verbose, capture_output=True, text=True, check=True)
    assert f"{done_before} of {N_MICROGRAPHS} micrographs already done" in rerun.stderr
    assert output.read_bytes() == (picking / "reference" / "picks.txt").read_bytes()


@pytest.mark.slow
def test_watch_picks_micrographs_as_they_arrive(picking: Path) -> None:
    incoming = picking / "incoming"
    incoming.mkdir()
    output = picking / "watched" / "picks.txt"
    command = ["-v" if word == "-q" else word for word in _extract_command(
        picking, output, "--watch", str(incoming), "--poll-interval-s", "0.2", "--stop-after-idle-s", "4")]
    watcher = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    assert watcher.stderr is not None
    while "watching" not in (line := watcher.stderr.readline()):
        assert line, "the watcher stopped before watching"
    names = sorted(p.name for p in (picking / "raw").iterdir())
    # the first written slowly, in two halves: half a micrograph must never be picked
    data = (picking / "raw" / names[0]).read_bytes()
    with (incoming / names[0]).open("wb") as handle:
        handle.write(data[: len(data) // 2])
        handle.flush()
        time.sleep(1.5)
        handle.write(data[len(data) // 2:])
    for name in names[1:7]:
        shutil.copy(picking / "raw" / name, incoming / f".{name}.part")  # written under a temporary name,
        os.replace(incoming / f".{name}.part", incoming / name)  # then renamed, as data collection does
    for name in names[7:]:
        time.sleep(0.3)
        shutil.copy(picking / "raw" / name, incoming / name)
    _, err = watcher.communicate(timeout=300)
    assert watcher.returncode == 0, err
    assert output.read_bytes() == (picking / "reference" / "picks.txt").read_bytes()
    assert "skipping for now" in err  # the half-written micrograph was seen, refused, and picked once complete


@pytest.mark.slow
def test_preprocess_and_particles_on_two_workers_match_in_process(picking: Path) -> None:
    for workers in ([], ["--workers", "2"]):
        out = picking / f"pre{len(workers)}"
        assert main(["preprocess", str(picking / "raw"), "--particle-diameter-A", "40", "-o", str(out), "-q",
                     *workers]) == 0
        assert main(["particles", "--picks", str(picking / "reference" / "picks.txt"), "--micrographs",
                     str(picking / "raw"), "--box-size-orig-px", "32", "-o", str(picking / f"stack{len(workers)}"),
                     "-q", *workers]) == 0
    assert (picking / "pre0" / "preprocess.json").read_text() == (picking / "pre2" / "preprocess.json").read_text()
    for name in ("mic00", "mic07"):
        for pair in (("pre0", "pre2"), ("stack0/Particles", "stack2/Particles")):
            suffix = ".mrc" if pair[0].startswith("pre") else ".mrcs"
            with mrcfile.open(picking / pair[0] / f"{name}{suffix}") as a, \
                    mrcfile.open(picking / pair[1] / f"{name}{suffix}") as b:
                np.testing.assert_array_equal(a.data, b.data)
    stars = [starfile.read(picking / f"stack{n}" / "particles.star", always_dict=True)["particles"] for n in (0, 2)]
    assert stars[0]["rlnCoordinateX"].tolist() == stars[1]["rlnCoordinateX"].tolist()
    assert stars[0]["rlnImageName"].str.split("/").str[-1].tolist() == \
        stars[1]["rlnImageName"].str.split("/").str[-1].tolist()


@pytest.mark.slow
def test_batched_path_a_gpu_takes_gives_the_same_picks_on_the_cpu(picking: Path, tmp_path: Path) -> None:
    """CI has no GPU: the batched, loaded-ahead path it runs is checked on the CPU device against
    the per-micrograph threads (batching may change the last float bits, never the picks)."""
    config = ExtractConfig(batch_size=5)  # 12 micrographs: two full batches and a partial one
    with Extractor(config, picking / "model", tmp_path / "results", quiet=True) as extractor:
        sources = extractor.sources([picking / "raw"])
        extractor.run_batched(sources, torch.device("cpu"))
        assert not extractor.pending(sources)
        batched = extractor.picks(sources)
    reference = read_picks(picking / "reference" / "picks.txt")

    def table(picks: Picks) -> tuple[np.ndarray, list[str]]:
        rows = sorted(zip(picks.micrograph.tolist(), np.round(picks.x_orig_px, 2), np.round(picks.y_orig_px, 2),
                          picks.score, strict=True))
        return np.array([row[1:] for row in rows]), [row[0] for row in rows]

    (values, names), (reference_values, reference_names) = table(batched), table(reference)
    assert len(names) > N_MICROGRAPHS * 50
    assert names == reference_names
    np.testing.assert_allclose(values[:, :2], reference_values[:, :2], atol=0.01)
    np.testing.assert_allclose(values[:, 2], reference_values[:, 2], atol=1e-3)


def test_cluster_options_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["extract", "--model", "m", "--micrographs", "x", "-o", "p.star", "--workers", "2",
              "--scheduler", "tcp://localhost:1"])
    assert "not allowed with" in capsys.readouterr().err


@pytest.mark.slow
def test_two_local_clusters_at_once_neither_warns() -> None:
    """Another cluster (or anything) on Dask's default dashboard port 8787 must not matter: no
    fixed ports, no warning (the suite turns warnings into errors)."""
    import socket
    import warnings

    from cryopick.cluster import dask_client

    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):  # already taken by someone else: just as good a test
        holder.bind(("", 8787))
        holder.listen()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with dask_client(ClusterConfig(workers=1)) as first, dask_client(ClusterConfig(workers=1)) as second:
                assert first.submit(sum, [1, 2]).result() == 3
                assert second.submit(sum, [3, 4]).result() == 7
    finally:
        holder.close()


@pytest.mark.slow
def test_a_second_run_into_the_same_output_stops_and_the_first_is_untouched(picking: Path) -> None:
    output = picking / "locked" / "picks.txt"
    first = subprocess.Popen(_extract_command(picking, output, "--micrographs", str(picking / "raw")),
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while _done(output) < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.poll() is None, "the first run finished before the second could start"
    second = subprocess.run(_extract_command(picking, output, "--micrographs", str(picking / "raw"),
                                             "--threshold", "0"), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert "another cryopick run" in second.stderr
    assert f"process {first.pid}" in second.stderr
    assert first.wait(timeout=120) == 0
    assert output.read_bytes() == (picking / "reference" / "picks.txt").read_bytes()
    assert not list(output.parent.glob(".*cryopick-lock"))  # released and removed
    again = subprocess.run(_extract_command(picking, output, "--micrographs", str(picking / "raw")),
                           capture_output=True, timeout=120)
    assert again.returncode == 0  # a finished run holds nothing


@pytest.mark.slow
def test_ctrl_c_stops_extract_within_two_seconds_and_keeps_what_is_done(picking: Path, tmp_path: Path) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for copy in range(10):  # enough work that the run is still going when interrupted
        for path in sorted((picking / "raw").glob("*.mrc")):
            (many / f"{path.stem}_{copy}.mrc").symlink_to(path)
    total = len(list(many.iterdir()))
    output = tmp_path / "picks.txt"
    run = _interruptible(_extract_command(picking, output, "--micrographs", str(many)), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while _done(output) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    assert run.wait(timeout=30) == 130
    assert time.monotonic() - interrupted < 2.0
    done = _done(output)
    assert 3 <= done < total, done
    assert not output.exists()
    again = subprocess.run(_extract_command(picking, output, "--micrographs", str(many)), capture_output=True,
                           timeout=300)
    assert again.returncode == 0
    assert f"{done} of {total} micrographs already done" in (tmp_path / "run.log").read_text()


def _many(picking: Path, directory: Path, copies: int) -> int:
    """``copies`` links to each raw micrograph: enough work that a run is still going when interrupted."""
    directory.mkdir()
    for copy in range(copies):
        for path in sorted((picking / "raw").glob("*.mrc")):
            (directory / f"{path.stem}_{copy}.mrc").symlink_to(path)
    return len(list(directory.iterdir()))


def _interrupt_when(run: subprocess.Popen, done: Callable[[], int], at_least: int) -> float:
    deadline = time.monotonic() + 120
    while done() < at_least and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.01)
    assert run.poll() is None, "finished before it could be interrupted: give it more work"
    run.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    run.wait(timeout=30)
    return time.monotonic() - interrupted


@pytest.mark.slow
@pytest.mark.parametrize("command", ["preprocess", "particles"])
def test_ctrl_c_stops_preprocess_and_particles_and_keeps_what_is_done(picking: Path, tmp_path: Path,
                                                                      command: str) -> None:
    many = tmp_path / "many"
    total = _many(picking, many, 30 if command == "preprocess" else 10)
    output = tmp_path / "out"
    if command == "preprocess":
        arguments = ["preprocess", str(many), "--particle-diameter-A", "40", "-o", str(output)]
        pattern = "*.sample.json"  # the first pass, over every micrograph
    else:
        picks = read_picks(picking / "reference" / "picks.txt")
        copies = Picks.concatenate([Picks.build([f"{name}_{c}" for name in picks.micrograph], picks.x_orig_px,
                                                picks.y_orig_px, picks.score) for c in range(10)])
        write_picks(tmp_path / "picks.txt", copies)
        arguments = ["particles", "--picks", str(tmp_path / "picks.txt"), "--micrographs", str(many),
                     "--box-size-orig-px", "32", "-o", str(output)]
        pattern = "*.json"
    run = _interruptible([sys.executable, "-m", "cryopick.cli.main", *arguments, "-q"], stderr=subprocess.DEVNULL)

    def done() -> int:
        return len(list((output / RESULTS_DIR).glob(pattern)))

    assert _interrupt_when(run, done, 3) < 2.0
    assert run.returncode == 130
    kept = done()
    assert 3 <= kept < total, kept
    again = subprocess.run([sys.executable, "-m", "cryopick.cli.main", *arguments, "-v"], capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert done() == total


@pytest.mark.slow
def test_ctrl_c_stops_watch_and_writes_what_is_done(picking: Path, tmp_path: Path) -> None:
    many = tmp_path / "many"
    total = _many(picking, many, 10)
    output = tmp_path / "picks.txt"
    run = _interruptible(_extract_command(picking, output, "--watch", str(many), "--poll-interval-s", "0.2"),
                           stderr=subprocess.DEVNULL)
    assert _interrupt_when(run, lambda: _done(output), 3) < 2.0
    assert run.returncode == 0  # stopping is how a watch ends
    picked = set(read_picks(output).micrographs())
    # every micrograph finished by the interrupt is in the output (those in flight finish after it,
    # into the result store, for the next run)
    assert 3 <= len(picked) <= _done(output) < total


@pytest.mark.slow
def test_raw_micrographs_at_another_or_no_pixel_size_are_refused_not_picked(picking: Path, tmp_path: Path) -> None:
    image = mrcfile.read(picking / "raw" / "mic00.mrc")
    write_mrc(tmp_path / "other" / "mic00.mrc", image, pixel_size_A=1.0)  # the model: 2.0 A/px
    (tmp_path / "unknown").mkdir()
    with mrcfile.new(tmp_path / "unknown" / "mic00.mrc") as mrc:
        mrc.set_data(image)  # voxel size left at 0: not recorded
    out = tmp_path / "out"
    for folder, message in (("other", "pixel size 1 A (in its header), but the model was trained at 2 A/px"),
                            ("unknown", "records no pixel size")):
        result = subprocess.run(_extract_command(picking, out / f"{folder}.txt", "--micrographs",
                                                 str(tmp_path / folder)), capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert str(tmp_path / folder / "mic00.mrc") in result.stderr
        assert not (out / f"{folder}.txt").exists()
    # stating the right pixel size picks exactly as from a correct header
    assert main(["extract", "--model", str(picking / "model"), "--micrographs", str(tmp_path / "unknown"),
                 "--pixel-size-A", "2.0", "-o", str(out / "stated.txt"), "-q"]) == 0
    reference = read_picks(picking / "reference" / "picks.txt")
    stated = read_picks(out / "stated.txt")
    mine = reference.select(reference.micrograph == "mic00")
    np.testing.assert_allclose(stated.x_orig_px, mine.x_orig_px)
    np.testing.assert_allclose(stated.score, mine.score, atol=1e-4)


@pytest.mark.slow
def test_the_same_micrograph_under_another_name_gets_the_same_picks(picking: Path, tmp_path: Path) -> None:
    (tmp_path / "renamed").mkdir()
    (tmp_path / "renamed" / "somewhere_else_07.mrc").symlink_to(picking / "raw" / "mic00.mrc")
    assert main(["extract", "--model", str(picking / "model"), "--micrographs", str(tmp_path / "renamed"),
                 "-o", str(tmp_path / "picks.txt"), "-q"]) == 0
    reference = read_picks(picking / "reference" / "picks.txt")
    mine = reference.select(reference.micrograph == "mic00")
    renamed = read_picks(tmp_path / "picks.txt")
    np.testing.assert_array_equal(renamed.x_orig_px, mine.x_orig_px)
    np.testing.assert_array_equal(renamed.score, mine.score)


def test_watch_runs_off_the_main_thread(picking: Path, tmp_path: Path) -> None:
    """Library use from a worker thread: no signal handler can be set there, and none is needed."""
    from cryopick.workflows.watch import run_extract_watch

    (tmp_path / "incoming").mkdir()
    shutil.copy(picking / "raw" / "mic00.mrc", tmp_path / "incoming" / "mic00.mrc")
    errors: list[BaseException] = []

    def watch() -> None:
        try:
            run_extract_watch(ExtractConfig(), picking / "model", tmp_path / "incoming", tmp_path / "picks.txt",
                              output_format=None, per_micrograph=False, quiet=True, cluster=ClusterConfig(),
                              poll_interval_s=0.05, stop_after_idle_s=0.5)
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            errors.append(exc)

    worker = threading.Thread(target=watch)
    worker.start()
    worker.join(timeout=120)
    assert not errors, errors
    assert read_picks(tmp_path / "picks.txt").micrographs() == ["mic00"]
