"""Where training starts: from scratch, from a given model, or from the general detector."""

import logging
from dataclasses import dataclass
from typing import Any

from cryopick.config import Geometry, TrainConfig, sizes_agree
from cryopick.models import PickerNet

log = logging.getLogger(__name__)

#: ``--init`` keywords (anything else is a model directory).
INIT_AUTO, INIT_GENERAL, INIT_NONE = "auto", "general", "none"


def names_general(init: str) -> bool:
    """Whether ``--init`` names the packaged general detector (``auto`` may then decline it)."""
    return init in (INIT_AUTO, INIT_GENERAL)


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


def starts_from(init: str, model: PickerNet, record: dict[str, Any], init_geometry: Geometry, *,
                geometry: Geometry, config: TrainConfig, input_pool: int = 1) -> bool:
    """Whether training starts from the model ``--init`` loaded (``record``: its model.json).

    The general detector as :func:`start_from_general` decides from its record, for the particle
    as the net sees it behind an ``input_pool``; a model directory always, warning when it works
    at another pixel size than these micrographs.
    """
    if names_general(init):
        detector = GeneralDetector(architecture=model.name, units=int(model.options["units"]),
                                   particle_diameter_px_range=tuple(record["general"]["particle_diameter_px_range"]))
        if not start_from_general(init, detector, particle_diameter_px=2 * geometry.particle_radius_px / input_pool,
                                  config=config):
            return False
        log.info("starting from the general detector (--init none to train from scratch instead)")
    elif not sizes_agree(init_geometry.working_pixel_size_A, geometry.working_pixel_size_A):
        log.warning("the --init model works at %.3g A/px, these micrographs at %.3g A/px: its features are "
                    "at another scale (preprocess with a matching --downsample to use them fully)",
                    init_geometry.working_pixel_size_A, geometry.working_pixel_size_A)
    return True
