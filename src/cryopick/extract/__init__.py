"""Extraction compute: dense scores, non-maximum suppression, back to original pixels."""
