"""Reading results: per-cell numbers (cells), statistics (stats), --by groups (breakdowns), paper-style tables, plots and the nightly report.

Everything here reads result rows (`bench.results.read_all`) and the benchmarks' declared
facts; nothing here runs a model or writes a row.
"""
