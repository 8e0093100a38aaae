"""Benchmarks and the reference-engine helper they share with the conformance tests."""
