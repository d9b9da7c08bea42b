"""The benchmark suite behind ``make bench`` (``python -m benchmarks.run``); not part of the test suite."""
