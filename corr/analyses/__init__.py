"""Analyses: what corr computes from the canonical event stream."""
