"""Benchmarks of Simpul's data and control plane against a named peer (see bench/README.md)."""
