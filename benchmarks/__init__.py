"""Benchmarks: each module runs with ``python -m benchmarks.<name>`` and compares tbtool side by
side, in the same run, with the tool a user would otherwise use (ratios, not absolute times)."""
