"""Benchmarks of the scanpy kernel layer: asv suites (``suites/``) and ``speed.py``."""
