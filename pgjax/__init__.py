"""pgjax: policy-gradient reinforcement learning as pure JAX functions on gymnax environments.

The package reads bottom-up, each layer importing only the layers below it:

- building blocks: `distributions`, `advantages`, `losses`, `optim`, `layout`, `rollout`;
- `envs`: gymnax environments batched and wrapped; memory tasks; token tasks;
- `networks`: the network interface with a carry, MLP/CNN, GRU, causal transformer;
- `algorithms`: configs and presets; acting, learning, evaluation; one module per algorithm;
- `report`: sinks, progress, plots, statistics, divergence (host side, not training);
- `runs`: the algorithm protocol; the host-driven driver; sweeps; checkpoints; devices and hosts;
- `cli`: the `pgjax` command.

Every name below is also importable from the module that defines it. They load on first use
(`pgjax.ppo`, `from pgjax import gae`), so that `import pgjax` starts no XLA backend: gymnax
creates arrays when it is imported, and on several hosts `jax.distributed.initialize()` (or
`pgjax.runs.distributed.initialize`) must come before that.
"""

from pgjax.lazy import lazy_exports

# Eager, because the function `rollout` shares its name with its module: loaded lazily, the
# submodule (set on the package by any `import pgjax.rollout`) would shadow the function.
# The module starts no backend.
from pgjax.rollout import Episodes, Trajectory, rollout, rollout_episodes

__version__ = "0.2.0"

# public name -> the module that defines it
_EXPORTS = {
    # algorithms
    "ALGORITHMS": "pgjax.algorithms", "a2c": "pgjax.algorithms", "grpo": "pgjax.algorithms",
    "ppo": "pgjax.algorithms", "ppo_kl": "pgjax.algorithms", "reinforce": "pgjax.algorithms",
    "rloo": "pgjax.algorithms", "trpo": "pgjax.algorithms",
    "evaluate_heldout": "pgjax.algorithms.evaluation",
    # building blocks
    "discounted_returns": "pgjax.advantages", "gae": "pgjax.advantages",
    "group_normalized_advantages": "pgjax.advantages", "leave_one_out_baseline": "pgjax.advantages",
    "normalize": "pgjax.advantages", "masked_normalize": "pgjax.advantages",
    "clipped_surrogate_loss": "pgjax.losses", "policy_gradient_loss": "pgjax.losses", "value_loss": "pgjax.losses",
    "kl_estimate": "pgjax.losses", "aggregation_scale": "pgjax.losses", "AGGREGATIONS": "pgjax.losses",
    "Categorical": "pgjax.distributions", "DiagGaussian": "pgjax.distributions",
    "group_reset_keys": "pgjax.rollout",
    "bradley_terry_loss": "pgjax.preferences", "dpo_loss": "pgjax.preferences", "ipo_loss": "pgjax.preferences",
    "sequence_log_prob": "pgjax.preferences",
    "tilted_policy": "pgjax.exact", "kl_divergence": "pgjax.exact", "best_of_n_log_probs": "pgjax.exact",
    "best_of_n_kl_bound": "pgjax.exact", "fit_gao": "pgjax.exact",
    # environments and networks
    "make_env": "pgjax.envs", "make_vec_env": "pgjax.envs",
    "make_network": "pgjax.networks", "register_network": "pgjax.networks",
    # runs
    "Algorithm": "pgjax.runs.protocol", "SweepResult": "pgjax.runs.sweep", "sweep": "pgjax.runs.sweep",
    "parse_grid": "pgjax.runs.sweep", "train_with_checkpoints": "pgjax.runs.driver",
    "train_runs_sharded": "pgjax.runs.driver", "restore": "pgjax.runs.checkpoint",
    "global_mesh": "pgjax.runs.distributed", "split_cpu": "pgjax.runs.devices",
}

__all__ = sorted([*_EXPORTS, "Episodes", "Trajectory", "rollout", "rollout_episodes"])


__getattr__, __dir__ = lazy_exports("pgjax", globals(), _EXPORTS)
