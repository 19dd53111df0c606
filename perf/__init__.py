"""Speed scripts that print numbers (not tests); run each from the repository root as
`python -m perf.NAME` (see perf/README.md)."""
