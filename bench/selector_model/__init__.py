"""The trained selector of the seed paper: model (model.py), its inputs (features.py),
checkpoints (checkpoint.py) and the two-stage training (train.py). `bench.selectors.trained`
serves a checkpoint as a selector; `bench labels` makes the pseudo labels it trains on.
"""

from bench.store import declare

FEATURES = declare("selector_features", "selector features")
