"""Write particle images as stacks that RELION, cryoSPARC and EMAN2 read.

Particle images out: an ``.mrcs`` stack per micrograph and one RELION 3.1+ ``particles.star``
(``data_optics`` + ``data_particles``) that RELION, cryoSPARC (Import Particle Stack) and
EMAN2 read.
"""

from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import numpy.typing as npt
import pandas as pd
import starfile

from cryopick.io._atomic import atomic_path


@dataclass(frozen=True)
class Optics:
    """The optics group written to ``particles.star``: what RELION needs to extract and classify."""

    pixel_size_A: float
    box_size_px: int
    voltage_kV: float
    spherical_aberration_mm: float
    amplitude_contrast: float


def write_mrcs(path: str | Path, stack: npt.NDArray[np.float32], *, pixel_size_A: float) -> None:
    """Atomically, as an image stack (MRC ``ispg`` 0, one section per particle)."""
    with atomic_path(path) as tmp, mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(stack, dtype=np.float32))
        mrc.set_image_stack()
        mrc.voxel_size = pixel_size_A


def write_particles_star(path: str | Path, optics: Optics, *, image_names: list[str], micrograph_names: list[str],
                         x_orig_px: npt.NDArray[np.float64], y_orig_px: npt.NDArray[np.float64],
                         score: npt.NDArray[np.float64]) -> None:
    """Write the RELION 3.1+ ``particles.star`` listing every particle image."""
    optics_table = pd.DataFrame({
        "rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
        "rlnMicrographOriginalPixelSize": [optics.pixel_size_A], "rlnVoltage": [optics.voltage_kV],
        "rlnSphericalAberration": [optics.spherical_aberration_mm],
        "rlnAmplitudeContrast": [optics.amplitude_contrast], "rlnImagePixelSize": [optics.pixel_size_A],
        "rlnImageSize": [optics.box_size_px], "rlnImageDimensionality": [2],
    })
    particles = pd.DataFrame({
        "rlnImageName": image_names, "rlnMicrographName": micrograph_names,
        "rlnCoordinateX": np.round(x_orig_px, 2), "rlnCoordinateY": np.round(y_orig_px, 2),
        "rlnAutopickFigureOfMerit": np.round(np.nan_to_num(score, nan=0.0), 4),
        "rlnOpticsGroup": np.ones(len(image_names), dtype=int),
    })
    with atomic_path(path) as tmp:
        starfile.write({"optics": optics_table, "particles": particles}, tmp, overwrite=True)
