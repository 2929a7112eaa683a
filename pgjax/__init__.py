"""pgjax: policy-gradient reinforcement learning as pure JAX functions on gymnax environments.

The names below load on first use (`pgjax.ppo`, `from pgjax import gae`), so that `import
pgjax` starts no XLA backend: gymnax creates arrays when it is imported, and on several hosts
`jax.distributed.initialize()` (or `pgjax.distributed.initialize`) must come before that.
The memory tasks (`pgjax.tasks`) are registered with gymnax whenever `pgjax.envs`, the
algorithms or the command line are imported.
"""

import importlib

# Eager, because the function `rollout` shares its name with its module: loaded lazily, the
# submodule (set on the package by any `import pgjax.rollout`) would shadow the function.
# The module starts no backend.
from pgjax.rollout import Episodes, Trajectory, rollout, rollout_episodes

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "ALGORITHMS": "pgjax.algorithms",
    "a2c": "pgjax.algorithms",
    "grpo": "pgjax.algorithms",
    "ppo": "pgjax.algorithms",
    "ppo_kl": "pgjax.algorithms",
    "reinforce": "pgjax.algorithms",
    "rloo": "pgjax.algorithms",
    "trpo": "pgjax.algorithms",
    "discounted_returns": "pgjax.advantages",
    "gae": "pgjax.advantages",
    "group_normalized_advantages": "pgjax.advantages",
    "leave_one_out_baseline": "pgjax.advantages",
    "make_env": "pgjax.envs",
    "clipped_surrogate_loss": "pgjax.losses",
    "policy_gradient_loss": "pgjax.losses",
    "value_loss": "pgjax.losses",
}

__all__ = sorted([*_EXPORTS, "Episodes", "Trajectory", "rollout", "rollout_episodes"])


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pgjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
