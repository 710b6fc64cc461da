"""Workflows: the only layer that joins file formats to compute; callable from a notebook."""
