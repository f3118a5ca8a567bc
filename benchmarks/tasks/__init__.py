"""Benchmark tasks used by the scripts in ``benchmarks/`` (not scripts themselves)."""
