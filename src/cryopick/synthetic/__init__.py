"""Synthetic micrographs with known particle centres, for the demo and the tests."""

from cryopick.synthetic.generator import SyntheticMicrograph, make_micrograph

__all__ = ["SyntheticMicrograph", "make_micrograph"]
