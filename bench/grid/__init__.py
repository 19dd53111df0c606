"""Running a grid: datasets x selectors x k x backbones, one CSV row per (cell, sample).

- `config`: the run's configuration (`RunConfig`), its models, cells and pending samples;
- `decoding`: candidates into the frame cache ahead of the models, in worker processes;
- `scoring`: the one decode -> score -> choose path (`Scorer`) and the scoring loops;
- `loading`: models loaded on first use, a failed load remembered as the rows' error;
- `rows`: how one (cell, sample) becomes a row (pick, ask the backbone, score the reply);
- `local` and `cluster`: the two executors, this machine and a Ray cluster;
- `progress`: the progress callbacks the phases call.

`bench.runner.run` builds the grid and hands it to an executor; `bench select`, `bench show`,
`bench labels` and `select_frames` use `decoding` and `scoring` alone.
"""
