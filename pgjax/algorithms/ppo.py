"""Proximal policy optimisation with the clipped surrogate (Schulman et al., 2017).

One iteration: roll out `num_steps × num_envs` transitions, estimate advantages
with GAE, then take `update_epochs × num_minibatches` Adam steps on

    L = clipped_surrogate + vf_coef · value_loss − ent_coef · entropy.
"""

from __future__ import annotations


from pgjax import losses
from pgjax.algorithms import acting, build, driver, learning
from pgjax.algorithms.config import BOOL, POSITIVE, EpochsConfig, hyper, static
from pgjax.algorithms.acting import evaluate  # noqa: F401  (part of the protocol)
from pgjax.algorithms.build import TrainState
from pgjax.token_tasks import TOKEN_PRESETS
from flax import struct

_CONTINUOUS = dict(normalize_observations=True, scale_rewards=True, clip_value=False, ent_coef=0.0)
_MEMORY = dict(network="gru", gru_size=64, hidden_sizes=(64,))

# MinAtar: three recipes, compared per game in benchmarks/minatar.md. gymnax-blines' (a 2×256
# MLP on the flattened image, constant 5e-4, γ = 0.999); the conv torso's (one 3×3
# convolution, then 256 units, 5e-3 annealed, γ = 0.99); and that one with the 2×256 MLP in
# place of the convolution, so the torso is the only difference.
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
# Per game the recipe that got furthest in equal wall time on this CPU (2 seeds, 1-3M steps):
# the MLP runs about 4x the convolution's env-steps/s, and only Asterix learned so much more
# per step with the convolution that it stayed ahead.
MINATAR_PRESETS = {
    "Asterix-MinAtar": MINATAR_RECIPES["cnn"],
    "Breakout-MinAtar": MINATAR_RECIPES["mlp"],
    "Freeway-MinAtar": MINATAR_RECIPES["mlp"],
    "SpaceInvaders-MinAtar": MINATAR_RECIPES["mlp"],
}


@struct.dataclass
class Config(EpochsConfig):
    clip_value: bool = static(True, BOOL, "clip the value update around the old values by clip_eps")
    clip_eps: float = hyper(0.2, POSITIVE, "surrogate clip range ε")

    PRESETS = {
        "CartPole-v1": dict(num_envs=4, num_steps=128, learning_rate=2.5e-4, total_timesteps=500_000),
        "Acrobot-v1": dict(num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=500_000),
        # An exploration problem: until an episode reaches the flag every reward is -1, and a
        # uniformly random policy never reaches it in 200 steps (benchmarks/exploration_odds.md).
        # What finds the flag is the policy drifting, update by update, while the critic is
        # still learning; a seed whose policy turns deterministic first never finds it. So many
        # small updates (rl-baselines3-zoo's recipe, less its reward normalisation: 16 Adam
        # steps per 256 env steps, 16x the old 16 per 4096): 16 of 16 tuning seeds reach the
        # flag, against 9 with 16 x 256-step batches.
        "MountainCar-v0": dict(
            num_envs=16, num_steps=16, update_epochs=4, num_minibatches=4, learning_rate=3e-4, anneal_lr=False,
            total_timesteps=1_000_000, normalize_observations=True, gae_lambda=0.98, ent_coef=0.0,
        ),
        # 3e-4, not 1e-3: with 320 Adam steps per iteration the larger step sometimes drove the
        # Gaussian mean past the torque bound while σ shrank; every sample was then clipped to
        # the same torque, the return no longer depended on the action, and nothing pulled the
        # mean back (on 32 tuning seeds two stuck at -477 and -1073; with 3e-4 all 32 ended above
        # -188, and 32 of 32 unseen seeds above -250: benchmarks/presets.md).
        "Pendulum-v1": dict(
            _CONTINUOUS, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=3e-4,
            update_epochs=10, num_minibatches=32, gamma=0.95, gae_lambda=0.95,
        ),
        # Also exploration: only an episode that reaches the goal is paid for its effort. White
        # Gaussian noise of σ = 1 pushes the car there in 1.7 % of episodes, of σ = e^0.5 = 1.65
        # in 5.2 % (benchmarks/exploration_odds.md); with σ₀ = 1, 3 of 16 tuning seeds learned to
        # stand still before any episode got there, with σ₀ = 1.65 none (σ is learned after).
        "MountainCarContinuous-v0": dict(
            _CONTINUOUS, num_envs=16, num_steps=256, total_timesteps=1_000_000, learning_rate=3e-4,
            update_epochs=10, num_minibatches=32, gamma=0.99, gae_lambda=0.9, log_std_init=0.5,
        ),
        # Memory tasks (pgjax.tasks): a recurrent network; benchmarks/memory.md has the same
        # presets with network="mlp" beside them.
        "MemoryChain-bsuite": dict(
            _MEMORY, num_envs=16, num_steps=64, learning_rate=1e-3, total_timesteps=100_000,
        ),
        "CartPole-positions-v1": dict(
            _MEMORY, gru_size=128, num_envs=16, num_steps=128, learning_rate=1e-3, total_timesteps=1_000_000,
        ),
        # A starting point, not tuned (Pendulum's preset with sequence minibatches: 4 of 4 environments).
        "Pendulum-positions-v1": {**_CONTINUOUS, **_MEMORY, **dict(
            hidden_sizes=(64, 64), num_envs=16, num_steps=256, total_timesteps=1_000_000,
            learning_rate=1e-3, update_epochs=10, num_minibatches=4, gamma=0.95, gae_lambda=0.95,
        )},
        "RepeatPrevious-v0": dict(
            _MEMORY, num_envs=16, num_steps=64, learning_rate=1e-3, total_timesteps=1_000_000,
        ),
        **MINATAR_PRESETS,
        # Every episode is one 4-token answer: a segment of 4 steps holds exactly one (γ = 1).
        **{name: dict(preset, num_minibatches=2, update_epochs=2, gamma=1.0) for name, preset in TOKEN_PRESETS.items()},
    }


def init(config: Config, key) -> TrainState:
    return build.init_state(config, key)


def update(config: Config, state: TrainState):
    setup = build.build(config)
    state, trajectory, carry = acting.collect(config, setup, state)
    batch = learning.advantage_batch(config, trajectory, carry)

    def clipped_surrogate(dist, batch, advantages):
        return losses.clipped_surrogate_loss(
            dist.log_prob(batch.action), batch.log_prob, advantages, config.clip_eps
        )

    loss_fn = learning.actor_critic_loss(config, setup, clipped_surrogate, config.clip_eps if config.clip_value else None)
    state, learn_metrics = learning.descend(
        config, setup, state, loss_fn, batch, config.update_epochs, config.num_minibatches
    )
    return acting.finish_iteration(config, state, trajectory, learn_metrics)


train, train_batch = driver.entry_points(init, update)
