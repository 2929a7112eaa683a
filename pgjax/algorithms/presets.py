"""Tuned settings per algorithm and environment, the tables behind `Config.for_env`.

Tables only. How each preset scores on unseen seeds, and the measurements that chose it,
are on the results page its benchmark generates: `benchmarks/presets.md` (classic control),
`benchmarks/minatar.md`, `benchmarks/memory.md`, `benchmarks/token_algorithms.md`, and the
failure analyses under `studies/`.
"""

from __future__ import annotations

# Continuous control: standardised observations and scaled rewards.
_CONTINUOUS = dict(normalize_observations=True, scale_rewards=True)
# Memory tasks: a GRU of 64 units with one 64-unit layer per head.
_MEMORY = dict(network="gru", gru_size=64, hidden_sizes=(64,))

# MinAtar: three recipes compared per game (benchmarks/minatar.md): gymnax-blines' MLP on the
# flattened image, the conv torso, and the conv recipe with the MLP torso.
MINATAR_GAMES = ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar")
_MINATAR = dict(
    num_envs=64, num_steps=128, total_timesteps=10_000_000, update_epochs=4, num_minibatches=8, activation="relu",
)
MINATAR_RECIPES = {
    "blines-mlp": dict(
        _MINATAR, torso="mlp", hidden_sizes=(256, 256), learning_rate=5e-4, anneal_lr=False, gamma=0.999,
        gae_lambda=0.95, ent_coef=0.01,
    ),
    "cnn": dict(_MINATAR, torso="cnn", hidden_sizes=(256,), learning_rate=5e-3),
    "mlp": dict(_MINATAR, torso="mlp", hidden_sizes=(256, 256), learning_rate=5e-3),
}
# Per game, the recipe that got furthest in equal wall time (benchmarks/minatar.md).
MINATAR_PRESETS = {
    "Asterix-MinAtar": MINATAR_RECIPES["cnn"],
    "Breakout-MinAtar": MINATAR_RECIPES["mlp"],
    "Freeway-MinAtar": MINATAR_RECIPES["mlp"],
    "SpaceInvaders-MinAtar": MINATAR_RECIPES["mlp"],
}

# Token tasks: a 2-layer causal transformer; 128 episodes per iteration, 300 iterations, a
# window holding one whole answer. Tuned on 4-digit reversal (benchmarks/token_algorithms.md).
TRANSFORMER_POLICY = dict(network="transformer", d_model=64, num_layers=2, num_heads=4, max_len=16,
                          learning_rate=1e-3)


def _token_preset(max_answer: int) -> dict:
    return dict(num_envs=128, num_steps=max_answer, total_timesteps=128 * max_answer * 300, **TRANSFORMER_POLICY)


TOKEN_PRESETS = {
    "Reverse4-tokens-v0": _token_preset(4), "Add2-tokens-v0": _token_preset(3), "CopyEOS-tokens-v0": _token_preset(5),
}
# The group methods (RLOO, GRPO): 16 prompts × 8 answers.
GROUP_TOKEN_PRESETS = {name: dict(preset, num_groups=16, group_size=8) for name, preset in TOKEN_PRESETS.items()}

PPO = {
    "CartPole-v1": dict(num_envs=4, num_steps=128, learning_rate=2.5e-4, total_timesteps=500_000),
    "Acrobot-v1": dict(num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=500_000),
    # An exploration problem: rl-baselines3-zoo's many small updates (studies/exploration_odds.md).
    "MountainCar-v0": dict(
        num_envs=16, num_steps=16, update_epochs=4, num_minibatches=4, learning_rate=3e-4, anneal_lr=False,
        total_timesteps=1_000_000, normalize_observations=True, gae_lambda=0.98, ent_coef=0.0,
    ),
    "Pendulum-v1": dict(
        _CONTINUOUS, clip_value=False, ent_coef=0.0, num_envs=16, num_steps=256, total_timesteps=1_000_000,
        learning_rate=3e-4, update_epochs=10, num_minibatches=32, gamma=0.95, gae_lambda=0.95,
    ),
    # Also exploration: a Gaussian starting at σ = e^0.5 (studies/exploration_odds.md).
    "MountainCarContinuous-v0": dict(
        _CONTINUOUS, clip_value=False, ent_coef=0.0, num_envs=16, num_steps=256, total_timesteps=1_000_000,
        learning_rate=3e-4, update_epochs=10, num_minibatches=32, gamma=0.99, gae_lambda=0.9, log_std_init=0.5,
    ),
    # Memory tasks (benchmarks/memory.md has them with network="mlp" beside).
    "MemoryChain-bsuite": dict(_MEMORY, num_envs=16, num_steps=64, learning_rate=1e-3, total_timesteps=100_000),
    "CartPole-positions-v1": dict(
        _MEMORY, gru_size=128, num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=1_000_000,
    ),
    # A starting point, not tuned: Pendulum's preset with sequence minibatches.
    "Pendulum-positions-v1": {**_CONTINUOUS, "clip_value": False, "ent_coef": 0.0, **_MEMORY, **dict(
        hidden_sizes=(64, 64), num_envs=16, num_steps=256, total_timesteps=1_000_000,
        learning_rate=1e-3, update_epochs=10, num_minibatches=4, gamma=0.95, gae_lambda=0.95,
    )},
    "RepeatPrevious-v0": dict(_MEMORY, num_envs=16, num_steps=64, learning_rate=1e-3, total_timesteps=1_000_000),
    **MINATAR_PRESETS,
    # Every episode is one answer: a segment of num_steps holds exactly one (γ = 1).
    **{name: dict(preset, num_minibatches=2, update_epochs=2, gamma=1.0) for name, preset in TOKEN_PRESETS.items()},
}

A2C = {
    # Scaled rewards and standardised advantages keep the value gradient from crowding the
    # policy gradient out of the shared gradient-norm clip (benchmarks/family.md).
    "CartPole-v1": dict(
        total_timesteps=1_000_000, ent_coef=0.0, gae_lambda=0.95, scale_rewards=True, normalize_advantages=True,
    ),
    "Acrobot-v1": dict(total_timesteps=500_000, ent_coef=0.0, gae_lambda=0.95),
    "Catch-bsuite": dict(total_timesteps=200_000),
    "Pendulum-v1": dict(
        _CONTINUOUS, ent_coef=0.0, num_envs=16, num_steps=16, total_timesteps=1_000_000, gamma=0.95,
        gae_lambda=0.95, normalize_advantages=True,
    ),
}

PPO_KL = {
    # Normalised observations and scaled rewards keep the critic in step after a collapse
    # (studies/cartpole_failures_ppo_kl.md).
    "CartPole-v1": dict(
        num_envs=8, num_steps=128, learning_rate=1e-3, total_timesteps=1_000_000, ent_coef=0.01,
        normalize_observations=True, scale_rewards=True,
    ),
    "Acrobot-v1": dict(num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=500_000),
    "Catch-bsuite": dict(num_envs=8, num_steps=128, learning_rate=1e-3, total_timesteps=200_000),
    "Pendulum-v1": dict(
        _CONTINUOUS, ent_coef=0.0, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=1e-3,
        update_epochs=10, num_minibatches=32, gamma=0.95, gae_lambda=0.95,
    ),
}

TRPO = {
    # Normalised observations and scaled rewards, as for PPO-KL (studies/cartpole_failures_trpo.md).
    "CartPole-v1": dict(total_timesteps=1_000_000, max_kl=0.05, normalize_observations=True, scale_rewards=True),
    "Acrobot-v1": dict(total_timesteps=500_000, max_kl=0.02),
    "Catch-bsuite": dict(total_timesteps=200_000, max_kl=0.05),
    # 8 environments: twice the trust-region steps of 16 (benchmarks/family.md).
    "Pendulum-v1": dict(
        _CONTINUOUS, num_envs=8, num_steps=256, total_timesteps=1_000_000, gamma=0.95, gae_lambda=0.95, max_kl=0.05,
    ),
}

REINFORCE = {
    "CartPole-v1": dict(num_envs=8, num_steps=500, total_timesteps=2_000_000, learning_rate=3e-3),
    "Pendulum-v1": dict(num_envs=16, num_steps=200, total_timesteps=2_000_000, learning_rate=1e-3, gamma=0.95),
    "Catch-bsuite": dict(num_envs=16, num_steps=9, total_timesteps=50_000, learning_rate=3e-3),
}

# The group methods: 4 groups of 4 episodes unless a preset says otherwise.
RLOO = {
    "CartPole-v1": dict(num_steps=500, total_timesteps=2_000_000, learning_rate=3e-3),
    "Pendulum-v1": dict(num_steps=200, total_timesteps=2_000_000, learning_rate=1e-3, gamma=0.95),
    "Catch-bsuite": dict(num_steps=9, total_timesteps=50_000, learning_rate=3e-3),
    **GROUP_TOKEN_PRESETS,
}

GRPO = {
    "CartPole-v1": dict(num_steps=500, total_timesteps=2_000_000, learning_rate=1e-3),
    "Pendulum-v1": dict(num_steps=200, total_timesteps=2_000_000, learning_rate=1e-3, gamma=0.95),
    "Catch-bsuite": dict(num_steps=9, total_timesteps=50_000, learning_rate=1e-3, num_minibatches=2),
    **{name: dict(preset, update_epochs=1, num_minibatches=2) for name, preset in GROUP_TOKEN_PRESETS.items()},
}
