"""pgjax: policy-gradient reinforcement learning as pure JAX functions on gymnax environments."""

from pgjax.advantages import discounted_returns, gae
from pgjax.algorithms import ALGORITHMS, ppo
from pgjax.envs import make_env
from pgjax.losses import clipped_surrogate_loss, policy_gradient_loss, value_loss
from pgjax.rollout import Trajectory, rollout

__version__ = "0.1.0"

__all__ = [
    "ALGORITHMS",
    "Trajectory",
    "clipped_surrogate_loss",
    "discounted_returns",
    "gae",
    "make_env",
    "policy_gradient_loss",
    "ppo",
    "rollout",
    "value_loss",
]
