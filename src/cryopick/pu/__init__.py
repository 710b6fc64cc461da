"""Positive-unlabelled objectives and the class prior they need."""

from cryopick.pixels import disc_offsets
from cryopick.pu.objectives import OBJECTIVE_FUNCTIONS, ge_binomial, ge_kl, nnpu, pn
from cryopick.pu.prior import class_prior, unlabelled_prior

__all__ = [
    "OBJECTIVE_FUNCTIONS", "class_prior", "disc_offsets", "ge_binomial", "ge_kl", "nnpu", "pn",
    "unlabelled_prior",
]
