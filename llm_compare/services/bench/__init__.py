"""Benchmarks: repeated runs of models over prompt suites, and their statistics."""
