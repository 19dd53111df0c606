"""One module per `bench` command, each defining `command`; `bench.cli` adds them all.

What several commands share lives in `_`-named modules, which are not commands: `_options`
(option callbacks and the shared options) and `_output` (consoles, progress bars, logging,
tables). Commands import heavy modules inside their functions, so `bench --help` stays instant.
"""
