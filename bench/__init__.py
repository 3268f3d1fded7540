"""The benchmark harness of issue 8: `python -m bench` (docs/bench.md)."""
