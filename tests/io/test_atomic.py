"""Outputs go where -o points: through symbolic links, into FIFOs and devices, to standard
output with -o -; never over the link or the FIFO itself, never half-written."""

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from cryopick.io._atomic import atomic_write_text, is_stream
from cryopick.io.model_files import save_model

PICKS = "image_name\tx_coord\ty_coord\tscore\nmic1\t10\t20\t0.5\nmic1\t30\t40\t1.5\n"


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "data" / "picks.star"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "picks.star"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink()
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["picks.star"]  # no temporary left


def test_a_dangling_symlink_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "picks.star"
    link.symlink_to(tmp_path / "elsewhere.star")
    atomic_write_text(link, "new")
    assert link.is_symlink()
    assert (tmp_path / "elsewhere.star").read_text() == "new"


def test_a_fifo_gets_the_whole_content_and_stays_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "picks.star"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    atomic_write_text(fifo, "x" * 200_000)  # more than a pipe's buffer
    reader.join(timeout=10)
    assert received == [b"x" * 200_000]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert is_stream(fifo)
    assert is_stream("-")
    assert not is_stream(tmp_path)


def test_a_failed_write_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "picks.star"
    target.write_text("old")

    with pytest.raises(TypeError):
        atomic_write_text(target, 12)  # type: ignore[arg-type] - the writer fails midway
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["picks.star"]


def test_model_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_model(tmp_path / "model", {"w": np.zeros(3, dtype=np.float32)}, {"geometry": {}})
    finally:
        os.umask(old)
    for name in ("weights.safetensors", "model.json"):
        assert stat.S_IMODE(os.stat(tmp_path / "model" / name).st_mode) == 0o644, name


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cryopick.cli.main", *args], cwd=cwd, capture_output=True,
                          timeout=60)


def test_dash_o_dash_writes_to_standard_output(tmp_path: Path) -> None:
    (tmp_path / "in.txt").write_text(PICKS)
    result = _cli("convert", "--picks", "in.txt", "-o", "-", "--format", "csv", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines()[1] == "mic1,10.00,20.00,0.5000"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # no file named -, no run.log


def test_a_link_to_standard_output_streams_and_is_left_alone(tmp_path: Path) -> None:
    """The /dev/stdout case, with a link of our own (as root the old code replaced /dev/stdout)."""
    (tmp_path / "in.txt").write_text(PICKS)
    (tmp_path / "stdout").symlink_to("/proc/self/fd/1")
    result = _cli("convert", "--picks", "in.txt", "-o", "stdout", "--format", "star", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert b"_rlnCoordinateX" in result.stdout
    assert (tmp_path / "stdout").is_symlink()


@pytest.mark.parametrize("command", [
    ["convert", "--picks", "in.txt", "-o", "-", "--per-micrograph"],
    ["evaluate", "--picks", "in.txt", "--reference", "in.txt", "--match-radius-orig-px", "5", "-o", "-"],
])
def test_dash_o_dash_is_refused_where_a_directory_is_written(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "in.txt").write_text(PICKS)
    result = _cli(*command, cwd=tmp_path)
    assert result.returncode == 2
    assert b"standard output" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]
