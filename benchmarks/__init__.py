"""Reproducible performance runs: ``make bench`` (see README, Performance)."""
