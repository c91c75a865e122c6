"""Benchmarks: each module compares eksd-adopt against the peer its issue names, in one run."""
