"""Particles on structured noise, with distractors that are not particles.

A particle is a soft dark disc with a darker shell (a projected hollow sphere, like
apoferritin). The background has slow ice-thickness variation and white noise at a chosen SNR.
Distractors make picking non-trivial: dark ice blobs several times the particle's size, bright
specks smaller than it, and a straight carbon edge. Only the particles are in the ground truth.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import ndimage


@dataclass(frozen=True)
class SyntheticMicrograph:
    """A synthetic micrograph and its true particle centres."""

    image: npt.NDArray[np.float32]  # (rows, cols)
    centres_px: npt.NDArray[np.float64]  # (n, 2) particle centres as (y, x), same pixels


def _particle_template(diameter_px: float) -> npt.NDArray[np.float64]:
    radius = diameter_px / 2
    reach = int(np.ceil(radius + 3))
    dy, dx = np.mgrid[-reach: reach + 1, -reach: reach + 1]
    distance = np.hypot(dy, dx)
    body = 1 / (1 + np.exp((distance - radius) / 0.8))  # soft-edged disc
    shell = np.exp(-((distance - 0.8 * radius) ** 2) / (2 * (0.12 * radius) ** 2))
    template: npt.NDArray[np.float64] = -(0.6 * body + 0.8 * shell)  # negative contrast: protein is dark
    return template


def _place_centres(shape: tuple[int, int], count: int, min_distance: float, margin: float,
                   rng: np.random.Generator) -> npt.NDArray[np.float64]:
    centres: list[tuple[float, float]] = []
    attempts = 0
    while len(centres) < count and attempts < 200 * count:
        attempts += 1
        y = rng.uniform(margin, shape[0] - margin)
        x = rng.uniform(margin, shape[1] - margin)
        if all((y - cy) ** 2 + (x - cx) ** 2 >= min_distance**2 for cy, cx in centres):
            centres.append((y, x))
    return np.array(centres, dtype=np.float64).reshape(-1, 2)


def _stamp(canvas: np.ndarray, template: np.ndarray, y: float, x: float) -> None:
    reach = template.shape[0] // 2
    shifted = ndimage.shift(template, (y - round(y), x - round(x)), order=1, mode="constant")
    top, left = round(y) - reach, round(x) - reach
    t0, l0 = max(0, -top), max(0, -left)
    b = min(canvas.shape[0], top + template.shape[0])
    r = min(canvas.shape[1], left + template.shape[1])
    canvas[max(0, top): b, max(0, left): r] += shifted[t0: t0 + b - max(0, top), l0: l0 + r - max(0, left)]


def make_micrograph(
    shape: tuple[int, int] = (512, 512),
    *,
    n_particles: int = 40,
    diameter_px: float = 24.0,
    snr: float = 0.5,
    n_distractors: int = 6,
    carbon_edge: bool = True,
    seed: int = 0,
) -> SyntheticMicrograph:
    """One micrograph and its particle centres; deterministic for a given ``seed``."""
    rng = np.random.default_rng(seed)
    signal = np.zeros(shape, dtype=np.float64)
    centres = _place_centres(shape, n_particles, 1.1 * diameter_px, diameter_px / 2, rng)
    template = _particle_template(diameter_px)
    for y, x in centres:
        _stamp(signal, template * rng.uniform(0.8, 1.2), y, x)
    junk = np.zeros(shape, dtype=np.float64)
    for _ in range(n_distractors):
        kind = rng.integers(2)
        y, x = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        if kind == 0:  # dark ice contamination, much larger than a particle
            size = rng.uniform(2.0, 3.5) * diameter_px
            blob = np.zeros(shape)
            blob[int(y) % shape[0], int(x) % shape[1]] = 1
            blob = ndimage.gaussian_filter(blob, size / 4)
            junk -= 2.0 * blob / blob.max()
        else:  # bright speck, smaller than a particle
            d = rng.uniform(0.25, 0.4) * diameter_px
            _stamp(junk, -_particle_template(d) * 1.5, y, x)
    if carbon_edge:
        angle = rng.uniform(0, np.pi)
        rows, cols = np.mgrid[: shape[0], : shape[1]]
        offset = rng.uniform(0.15, 0.3) * shape[1]
        side = (cols - shape[1] / 2) * np.cos(angle) + (rows - shape[0] / 2) * np.sin(angle)
        with np.errstate(over="ignore"):  # far on the bright side exp overflows: the edge term is 0 there
            junk -= 0.8 / (1 + np.exp(-(side - shape[1] / 2 + offset) / 2))
    ice = ndimage.gaussian_filter(rng.standard_normal(shape), 4 * diameter_px)
    ice *= 0.3 / max(float(ice.std()), 1e-12)
    signal_power = float(np.var(template[np.abs(template) > 0.05]))
    noise = rng.standard_normal(shape) * np.sqrt(signal_power / snr)
    image = signal + junk + ice + noise
    return SyntheticMicrograph(image.astype(np.float32), centres)
