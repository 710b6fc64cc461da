"""The class prior: what fraction of regions are particle centres, from a count users know."""

from cryopick.errors import ConfigError
from cryopick.pixels import disc_offsets


def class_prior(*, expected_particles_per_micrograph: float, label_radius_px: float,
                pixels_per_micrograph: float) -> float:
    """``pi``: the expected fraction of all regions that are positive."""
    positive_pixels = expected_particles_per_micrograph * len(disc_offsets(label_radius_px))
    pi = positive_pixels / pixels_per_micrograph
    if not 0 < pi < 1:
        raise ConfigError(
            f"{expected_particles_per_micrograph:g} particles per micrograph of "
            f"{pixels_per_micrograph:.0f} px, each marking {len(disc_offsets(label_radius_px))} px, "
            f"gives a positive fraction pi = {pi:.4g}, which must lie in (0, 1)"
        )
    return pi


def unlabelled_prior(*, pi: float, labelled_positive_pixels: int, total_pixels: int) -> float:
    """``pi_U``: the positive fraction among the *unlabelled* regions.

    The labelled positives are removed from both the positives and the pool, i.e.
    ``(pi * T - P) / (T - P)``; the simpler ``pi - P / T`` differs by a factor ``T / (T - P)``,
    close to 1. When it is <= 0 the labels already account for every expected particle and the
    GE objectives have nothing to constrain: that is an error, never a silent fallback.
    """
    unlabelled = total_pixels - labelled_positive_pixels
    pi_u = (pi * total_pixels - labelled_positive_pixels) / unlabelled if unlabelled > 0 else 0.0
    if pi_u <= 0:
        raise ConfigError(
            f"the labels cover {labelled_positive_pixels} of {total_pixels} px, at least the "
            f"expected positive fraction pi = {pi:.4g}, so the unlabelled prior pi_U = {pi_u:.4g} "
            "is <= 0: the expected count per micrograph must exceed the labels per micrograph "
            "(raise --expected-particles-per-micrograph, or label a subset with --num-labeled)"
        )
    return pi_u
