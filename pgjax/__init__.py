"""pgjax: policy-gradient reinforcement learning as pure JAX functions on gymnax environments."""

from pgjax import tasks  # noqa: F401  (registers the memory tasks with gymnax first)

from pgjax.advantages import discounted_returns, gae
from pgjax.advantages import group_normalized_advantages, leave_one_out_baseline
from pgjax.algorithms import ALGORITHMS, ppo
from pgjax.algorithms import grpo, reinforce, rloo
from pgjax.algorithms import a2c, ppo_kl, trpo
from pgjax.envs import make_env
from pgjax.losses import clipped_surrogate_loss, policy_gradient_loss, value_loss
from pgjax.rollout import Trajectory, rollout
from pgjax.rollout import Episodes, rollout_episodes

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "Episodes",
    "Trajectory",
    "a2c",
    "clipped_surrogate_loss",
    "discounted_returns",
    "gae",
    "grpo",
    "group_normalized_advantages",
    "leave_one_out_baseline",
    "make_env",
    "policy_gradient_loss",
    "ppo",
    "ppo_kl",
    "reinforce",
    "rloo",
    "rollout",
    "rollout_episodes",
    "trpo",
    "value_loss",
]
