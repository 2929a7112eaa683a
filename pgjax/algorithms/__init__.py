"""One module per algorithm, each with `Config`, `init`, `update`, `train`, `evaluate`."""

from pgjax.algorithms import ppo
from pgjax.algorithms import grpo, reinforce, rloo
from pgjax.algorithms import a2c, ppo_kl, trpo

ALGORITHMS = {
    "ppo": ppo, "reinforce": reinforce, "rloo": rloo, "grpo": grpo, "a2c": a2c, "ppo_kl": ppo_kl, "trpo": trpo,
}
