"""Environments: gymnax's, pgjax's memory and token tasks (registered with gymnax on import),
batched and wrapped as every algorithm trains on them.

- `core`: `make_env`, `is_discrete`, `VecEnv`, `make_vec_env`;
- `wrappers`: episode statistics, action clipping, reward scaling, observation normalisation;
- `memory`: tasks that need a memory (hidden velocities, RepeatPrevious);
- `tokens`: text generation as an environment (a leaf: no presets, no evaluator);
- `registry`: per-task episode metrics.
"""

from pgjax.envs import tokens
from pgjax.envs.core import VecEnv, is_discrete, make_env, make_vec_env
from pgjax.envs.registry import episode_metrics, register_episode_metrics
from pgjax.envs.tokens import TOKEN_TASKS, is_token_task
from pgjax.envs.wrappers import (
    ClipAction,
    EpisodeStatistics,
    NormalizeObservation,
    RunningMeanStd,
    ScaleReward,
    Wrapper,
)

__all__ = [
    "ClipAction", "EpisodeStatistics", "NormalizeObservation", "RunningMeanStd", "ScaleReward", "TOKEN_TASKS",
    "VecEnv", "Wrapper", "episode_metrics", "is_discrete", "is_token_task", "make_env", "make_vec_env",
    "register_episode_metrics", "tokens",
]
