"""Cut particle images out of micrographs for 2-D classification elsewhere."""
