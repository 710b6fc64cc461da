"""Preprocessing compute: arrays in, arrays out."""
