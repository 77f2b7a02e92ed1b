"""Benchmarks (`python -m benchmarks.NAME`): they print ratios against a peer measured in the
same run, never assert times."""
