"""One module per algorithm, each with `Config`, `init`, `update`, `train`, `evaluate`."""

# What a user who composes an algorithm reads and calls: its building blocks (build, acting,
# learning), the in-program loop (scan), the preset tables and `field=value` overrides.
from pgjax.algorithms import acting, build, learning, presets, scan
from pgjax.algorithms.config_io import parse_overrides
from pgjax.algorithms import ppo
from pgjax.algorithms import grpo, reinforce, rloo
from pgjax.algorithms import a2c, ppo_kl, trpo

ALGORITHMS = {
    "ppo": ppo, "reinforce": reinforce, "rloo": rloo, "grpo": grpo, "a2c": a2c, "ppo_kl": ppo_kl, "trpo": trpo,
}

__all__ = [
    "ALGORITHMS", "a2c", "acting", "build", "grpo", "learning", "parse_overrides", "ppo", "ppo_kl", "presets",
    "reinforce", "rloo", "scan", "trpo",
]
