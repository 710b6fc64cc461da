"""``run_extract``: a model and micrographs in, picked coordinates (original pixels) out.

Micrographs are either a preprocessed directory (with ``preprocess.json``, checked against the
model's geometry) or raw micrographs, which are downsampled and normalised here exactly as the
model's training data were. Each micrograph's picks are saved as it finishes (a
:class:`~cryopick.io.results.ResultStore` beside the output), so a rerun skips the micrographs
already done from the same inputs, model and settings; the output files are assembled from those
results at the end. Micrographs run in this process (batched, loading overlapped with scoring) or
as Dask tasks (``ClusterConfig``); the picks are the same either way.
"""

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryopick.cluster import ClusterConfig
from cryopick.config import ExtractConfig, ThresholdChoice
from cryopick.io._atomic import is_stream
from cryopick.io.coordinates import describe_output, format_of, write_coordinates
from cryopick.io.model_files import model_files
from cryopick.io.results import RESULTS_DIR
from cryopick.picks import Picks
from cryopick.workflows.estimate import estimate_and_choose, estimate_path, model_calibration
from cryopick.workflows.extractor import Extractor
from cryopick.workflows.sources import (
    MicrographSource,
    micrograph_infos,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractSummary:
    """What a run of ``extract`` picked and wrote."""

    n_micrographs: int
    n_picks: int
    n_skipped: int  # already done by an earlier run from the same inputs
    outputs: list[Path]


def results_dir_for(output: Path, per_micrograph: bool) -> Path:
    """Where per-micrograph results live: inside an output directory, or beside an output file."""
    return output / RESULTS_DIR if per_micrograph else output.parent / RESULTS_DIR / output.name


def run_extract(
    config: ExtractConfig,
    model_dir: Path,
    inputs: list[Path],
    output: Path,
    *,
    output_format: str | None = None,
    per_micrograph: bool = False,
    quiet: bool = False,
    cluster: ClusterConfig | None = None,
    choice: ThresholdChoice | None = None,
) -> ExtractSummary:
    """Pick particles in micrographs with a trained model and write the coordinates.

    With a model that records its score calibration, the estimated precision, recall and F1 at
    every threshold are written beside the picks; ``choice`` then keeps only the picks above the
    threshold it asks for (best estimated F1, or a target precision).
    """
    output = Path(output)
    fmt = (output_format or "star") if per_micrograph else format_of(output, output_format)
    with contextlib.ExitStack() as scratch:
        # standard output, a FIFO or a device has no folder beside it: results live only for this run
        results_dir = (Path(scratch.enter_context(tempfile.TemporaryDirectory(prefix="cryopick-results-")))
                       if is_stream(output) else results_dir_for(output, per_micrograph))
        extractor = scratch.enter_context(Extractor(config, model_dir, results_dir, cluster=cluster, quiet=quiet))
        # a malformed calibration is refused before the picking, not after it
        calibration = model_calibration(extractor.record, model_files(extractor.model_dir)[0])
        sources = extractor.sources(inputs)
        log.info("picking %d micrographs (NMS radius %.1f working px, threshold %g)%s", len(sources),
                 extractor.job.nms_radius_px, config.threshold,
                 " on a Dask cluster" if extractor.client is not None else "")
        skipped = extractor.run(sources)
        picks = extractor.picks(sources)
    picks = estimate_and_choose(picks, calibration, choice or ThresholdChoice(), n_micrographs=len(sources),
                                path=estimate_path(output, per_micrograph))
    return write_outputs(picks, sources, output, fmt, per_micrograph, box_size_orig_px(config, extractor), skipped)


def box_size_orig_px(config: ExtractConfig, extractor: Extractor) -> float:
    """The EMAN2 .box side: as set, else the particle diameter the model records."""
    return config.box_size_orig_px or extractor.geometry.particle_diameter_orig_px


def write_outputs(picks: Picks, sources: list[MicrographSource], output: Path, fmt: str,
                   per_micrograph: bool, box_size_orig_px: float, skipped: int) -> ExtractSummary:
    """Write the picks of ``sources`` in ``fmt`` and summarise the run."""
    picks = picks.with_info(micrograph_infos(sources))
    names = [s.name for s in sources]
    outputs = write_coordinates(output, picks, fmt=fmt, per_micrograph=per_micrograph, micrographs=names,
                                box_size_orig_px=box_size_orig_px)
    log.info("%d picks on %d micrographs -> %s", len(picks), len(names), describe_output(output, fmt, per_micrograph))
    return ExtractSummary(len(names), len(picks), skipped, outputs)
