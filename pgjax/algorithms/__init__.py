"""One module per algorithm, each with `Config`, `init`, `update`, `train`, `evaluate`."""

from pgjax.algorithms import ppo

ALGORITHMS = {"ppo": ppo}
