"""lazyext benchmarks: run with ``python -m benchmarks`` (see README.md here)."""
