"""File formats: the only package that reads or writes micrographs, coordinates and models."""
