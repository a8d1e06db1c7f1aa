"""Benchmarks, and the synthetic population they and the tests share (`bench.synthetic`)."""
