"""Where training starts: from scratch, from a given model, or from the general detector."""

import logging
from dataclasses import dataclass

from cryopick.config import TrainConfig

log = logging.getLogger(__name__)

#: ``--init`` keywords (anything else is a model directory).
INIT_AUTO, INIT_GENERAL, INIT_NONE = "auto", "general", "none"


@dataclass(frozen=True)
class GeneralDetector:
    """What the packaged general detector's record says it is for."""

    architecture: str
    units: int
    particle_diameter_px_range: tuple[float, float]  # working px across, as it was trained


def start_from_general(init: str, detector: GeneralDetector, *, particle_diameter_px: float,
                       config: TrainConfig) -> bool:
    """Whether training starts from the general detector.

    ``general``: always (warning when the particle is a size it never saw); ``auto``: only when
    the particle is a size it was trained at and ``--model``/``--units`` are its own or left to it,
    since a start at another scale or in another layout is no start at all.
    """
    low, high = detector.particle_diameter_px_range
    fits = low <= particle_diameter_px <= high
    if init == INIT_GENERAL:
        if not fits:
            log.warning("the particle is %.1f working px across, outside the %g-%g px the general detector was "
                        "trained at: preprocess with a --downsample that brings it inside, or use --init none",
                        particle_diameter_px, low, high)
        return True
    units = config.extra.get("units", detector.units)
    if config.model not in (INIT_AUTO, detector.architecture) or units != detector.units:
        log.info("--model %s --units %s: training from scratch (the general detector is a %s of %d units)",
                 config.model, units, detector.architecture, detector.units)
        return False
    if not fits:
        log.info("the particle is %.1f working px across, outside the %g-%g px the general detector was "
                 "trained at: training from scratch", particle_diameter_px, low, high)
        return False
    return True
