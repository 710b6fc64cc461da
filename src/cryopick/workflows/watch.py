"""``run_extract_watch``: pick micrographs as they arrive in a directory, e.g. during a session."""

import logging
import time
from pathlib import Path

from cryopick.cluster import ClusterConfig
from cryopick.config import ExtractConfig
from cryopick.errors import InputError
from cryopick.io.coordinates import format_of
from cryopick.io.micrographs import stable_micrographs
from cryopick.workflows.extract import ExtractSummary, box_size_orig_px, results_dir_for, write_outputs
from cryopick.workflows.extractor import Extractor
from cryopick.workflows.sources import MicrographSource

log = logging.getLogger(__name__)


def run_extract_watch(
    config: ExtractConfig,
    model_dir: Path,
    watch_dir: Path,
    output: Path,
    *,
    output_format: str | None = None,
    per_micrograph: bool = False,
    quiet: bool = False,
    cluster: ClusterConfig | None = None,
    poll_interval_s: float = 5.0,
    stop_after_idle_s: float | None = None,
) -> ExtractSummary:
    """Pick micrographs as they appear, until interrupted or idle.

    Watches ``watch_dir`` until interrupted (KeyboardInterrupt: the CLI turns SIGTERM into
    one) or idle for ``stop_after_idle_s``; the outputs are rewritten after
    each round of new micrographs.
    """
    output = Path(output)
    if not Path(watch_dir).is_dir():
        raise InputError(watch_dir, "no such directory to watch")
    fmt = (output_format or "star") if per_micrograph else format_of(output, output_format)
    last_seen: dict[Path, tuple[int, int]] = {}
    refused: dict[Path, tuple[int, int]] = {}  # unreadable as they stood; retried once they change
    done: dict[str, MicrographSource] = {}
    summary = ExtractSummary(0, 0, 0, [])
    idle_since = time.monotonic()
    log.info("watching %s for micrographs (every %g s; Ctrl-C to stop)", watch_dir, poll_interval_s)
    with Extractor(config, model_dir, results_dir_for(output, per_micrograph), cluster=cluster,
                   quiet=quiet) as extractor:

        def write_finished(sources: list[MicrographSource]) -> bool:
            nonlocal summary
            finished = [s for s in sources if s.name not in done and not extractor.pending([s])]
            if finished:
                done.update((s.name, s) for s in finished)
                summary = write_outputs(extractor.picks(list(done.values())), list(done.values()), output, fmt,
                                        per_micrograph, box_size_orig_px(config, extractor), 0)
            return bool(finished)

        sources: list[MicrographSource] = []
        try:
            while True:
                ready = [p for p in stable_micrographs(Path(watch_dir), last_seen)
                         if p.stem not in done and refused.get(p) != last_seen[p]]
                sources = [MicrographSource.raw(p) for p in ready]
                if sources:
                    try:
                        extractor.run(sources)
                    except InputError as exc:
                        log.warning("skipping for now: %s", exc)
                        if exc.path in last_seen:
                            refused[exc.path] = last_seen[exc.path]
                    if write_finished(sources):
                        idle_since = time.monotonic()
                elif stop_after_idle_s is not None and time.monotonic() - idle_since >= stop_after_idle_s:
                    log.info("no new micrographs for %g s: stopping", stop_after_idle_s)
                    break
                time.sleep(poll_interval_s)
        except KeyboardInterrupt:  # the batch's finished micrographs go into the output too
            write_finished(sources)
            log.info("stopped: %d micrographs picked", len(done))
    return summary
