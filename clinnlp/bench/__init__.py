"""Benchmarks that compare clinnlp with other tools; run each as ``python -m clinnlp.bench.<name>``."""
