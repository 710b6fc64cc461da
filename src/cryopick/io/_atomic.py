"""Atomic file writes, so a crash never leaves a half-written file.

Write to a temporary file beside the target, then rename: a crash never leaves a file that
looks complete.
"""

import contextlib
import fcntl
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cryopick.errors import InputError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


#: ``-o -``: the output goes to standard output.
STDOUT = "-"


def is_stream(target: str | Path) -> bool:
    """Outputs that cannot be renamed onto: standard output, FIFOs, character devices."""
    if str(target) == STDOUT:
        return True
    try:
        mode = os.stat(Path(target)).st_mode  # follows links: /dev/stdout -> the pipe or terminal
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path; on success it becomes ``path``.

    A regular file is written beside the target and renamed onto it. A symbolic link is
    followed, so its target is replaced (atomically, beside it) and the link stays. Standard
    output (``-``), a FIFO or a device cannot be renamed onto: the finished file is copied into
    it, so a reader still never sees a half-written file from a failed run.
    """
    target = Path(path)
    streamed = is_stream(target)
    if not streamed:
        target = Path(os.path.realpath(target))  # write through symbolic links, never over them
        target.parent.mkdir(parents=True, exist_ok=True)
    directory = None if streamed else target.parent
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if streamed:
            with tmp.open("rb") as source:
                if str(target) == STDOUT:
                    sys.stdout.flush()
                    shutil.copyfileobj(source, sys.stdout.buffer)
                    sys.stdout.buffer.flush()
                else:
                    with target.open("wb") as sink:
                        shutil.copyfileobj(source, sink)
            tmp.unlink()
        else:
            # mkstemp makes it private and some writers recreate the file: outputs get the usual mode
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


@contextlib.contextmanager
def output_lock(output: str | Path) -> Iterator[None]:
    """Hold ``output`` for a whole run, so two runs never mix their results in it.

    An exclusive ``flock`` on a hidden ``.NAME.cryopick-lock`` beside the output (through
    symbolic links): a second run into the same output stops at once, naming the first run's
    process. The kernel drops the lock when the process dies, however it dies.
    """
    if is_stream(output):
        yield
        return
    target = Path(os.path.realpath(output))
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.cryopick-lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise InputError(Path(output), f"another cryopick run{f' (process {holder})' if holder else ''} is "
                                           "writing this output; wait for it to finish, or choose another -o") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)
