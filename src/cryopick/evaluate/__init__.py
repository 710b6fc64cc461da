"""Evaluation: one-to-one matching of picks to reference particles, and PR/AP/F1."""
