"""Validated, vmappable configuration dataclasses shared by every algorithm.

A `Config` is a `flax.struct` dataclass with two kinds of fields:
- `static(...)` fields fix array shapes or program structure (environment,
  batch sizes, network sizes, switches). They are pytree *metadata*: changing
  one means a new compilation.
- `hyper(...)` fields are numeric hyperparameters. They are pytree *leaves*, so
  they may be traced: `config.replace(learning_rate=jnp.array([1e-3, 3e-4]))`
  under `jax.vmap` trains one agent per value in one program.

Every field carries a rule. Values are checked when a `Config` is built, so a
bad value fails with a `ValueError` naming the field and the rule before any
compilation starts. Traced values (inside `jit`/`vmap`) cannot be inspected and
are not checked; they were checked when the concrete config was built.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

from flax import struct

from pgjax.algorithms.fields import (  # noqa: F401  (the rules, re-exported for the algorithm modules)
    ACTIVATION,
    BOOL,
    ENV_NAME,
    ENV_PARAMS,
    HIDDEN_SIZES,
    LOG_STD,
    NETWORK,
    NON_NEGATIVE,
    OPEN_UNIT_INTERVAL,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    Rule,
    check_fields,
    hyper,
    one_of,
    static,
    suggest,
)
from pgjax.envs import (  # importing pgjax.envs registers its tasks with gymnax
    is_discrete,
    make_env,
)
from pgjax.losses import AGGREGATIONS
from pgjax.networks import NETWORKS, TORSOS


@struct.dataclass
class NetworkConfig:
    """The policy network: which one (`kind`, named `network` in a config) and its sizes. Every
    field is structural. A config holds it whole as `config.network`; the factories in
    `pgjax.networks` read it. Configs, presets, the command line and config.json spell its
    fields flat (`network="gru"`, `hidden_sizes=(64,)`, `--set d_model=32`), as before."""

    hidden_sizes: tuple = static((64, 64), HIDDEN_SIZES, "hidden layer widths of actor and critic")
    activation: str = static("tanh", ACTIVATION, "hidden activation")
    kind: str = static(
        "mlp", NETWORK,
        "mlp (feed-forward), gru (recurrent, a memory of past observations) or transformer (causal, over "
        "token observations, a key/value cache of the sequence so far)", label="network",
    )
    torso: str = static(
        "auto", one_of(TORSOS),
        "what reads the observation in the mlp and gru networks: auto (a 3x3 convolution for image "
        "observations [H, W, C], as in MinAtar, an MLP otherwise), mlp (the flattened observation) or cnn",
    )
    gru_size: int = static(128, POSITIVE_INT, "hidden state size of the gru network")
    d_model: int = static(64, POSITIVE_INT, "width of the transformer network (a multiple of num_heads)")
    num_layers: int = static(2, POSITIVE_INT, "blocks of the transformer network")
    num_heads: int = static(4, POSITIVE_INT, "attention heads of the transformer network")
    max_len: int = static(32, POSITIVE_INT, "longest sequence the transformer network's cache holds")
    log_std_init: float = static(
        0.0, LOG_STD, "initial log σ of the Gaussian policy (continuous actions only; σ is then learned)"
    )

    def __post_init__(self):
        check_fields(self)
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model: must be divisible by num_heads = {self.num_heads} (each head gets "
                             f"d_model / num_heads dimensions), got {self.d_model}")

    @property
    def recurrent(self) -> bool:
        """Whether the network is recurrent (learning then replays sequences)."""
        return NETWORKS[self.kind].recurrent


# Flat name (as configs, presets, the command line and config.json spell it) -> `NetworkConfig` field.
NETWORK_FIELDS = {field.metadata.get("label", field.name): field.name for field in dataclasses.fields(NetworkConfig)}
IS_NETWORK_CONFIG = Rule(lambda v: isinstance(v, NetworkConfig), "must be a NetworkConfig (or give its fields flat)")


def route_network_fields(fields: dict) -> dict:
    """`fields` with the flat network names (`network="gru"`, `hidden_sizes=...`) gathered into one
    `network=NetworkConfig(...)` (over a `NetworkConfig` given as `network`, if any)."""
    flat = {name: fields[name] for name in NETWORK_FIELDS if name in fields}
    if isinstance(flat.get("network"), NetworkConfig):
        del flat["network"]
    if not flat:
        return fields
    base = fields.get("network") if isinstance(fields.get("network"), NetworkConfig) else NetworkConfig()
    rest = {name: value for name, value in fields.items() if name not in flat and name != "network"}
    return {**rest, "network": base.replace(**{NETWORK_FIELDS[name]: value for name, value in flat.items()})}


def config_dataclass(cls):
    """`flax.struct.dataclass`, whose constructor (and so `replace`) also takes the network's
    fields flat (`route_network_fields`)."""
    cls = struct.dataclass(cls)
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **fields):
        init(self, *args, **route_network_fields(fields))

    cls.__init__ = __init__
    return cls


@config_dataclass
class BaseConfig:
    """Fields every algorithm has. Subclasses add their own and a `PRESETS` table."""

    # --- structure (static) ---
    env: str = static("CartPole-v1", ENV_NAME, "gymnax environment name")
    env_params: tuple = static((), ENV_PARAMS, "overrides of the environment's params, as (name, value) pairs")
    num_envs: int = static(4, POSITIVE_INT, "parallel environments")
    num_steps: int = static(128, POSITIVE_INT, "steps per environment per iteration")
    total_timesteps: int = static(500_000, POSITIVE_INT, "environment steps over the whole run")
    network: NetworkConfig = static(
        NetworkConfig(), IS_NETWORK_CONFIG, "the policy network (its fields are given flat: network, hidden_sizes, ...)"
    )
    anneal_lr: bool = static(True, BOOL, "decay the learning rate linearly to zero")
    normalize_observations: bool = static(False, BOOL, "standardise observations with running statistics")
    scale_rewards: bool = static(False, BOOL, "divide rewards by the running std of the discounted return")
    # --- numeric hyperparameters (traced) ---
    learning_rate: float = hyper(2.5e-4, POSITIVE, "Adam step size")
    gamma: float = hyper(0.99, UNIT_INTERVAL, "discount factor")
    max_grad_norm: float = hyper(0.5, POSITIVE, "global gradient-norm clip")

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {}
    # Whether the algorithm replays sequences from a stored carry, so a recurrent network works.
    RECURRENT_NETWORKS: ClassVar[bool] = False

    def __post_init__(self):
        check_fields(self)
        self.check()

    def check(self):
        """Rules that relate several fields; subclasses extend it."""
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"total_timesteps: must be at least num_envs * num_steps = {self.batch_size} "
                f"(one iteration), got {self.total_timesteps}"
            )
        # Every algorithm that cuts its batch into minibatches needs equal ones.
        num_minibatches = self.minibatches
        if self.recurrent:
            if not self.RECURRENT_NETWORKS:
                raise ValueError(
                    f"network: {self.network.kind!r} is recurrent, which {type(self).__module__.rsplit('.', 1)[-1]} "
                    f"does not support "
                    f"(recurrent networks work with every algorithm but trpo); use network='mlp'"
                )
            # Minibatches of a recurrent network are whole environment sequences.
            if self.num_envs % num_minibatches:
                raise ValueError(
                    f"num_minibatches: must divide num_envs = {self.num_envs} with a recurrent network "
                    f"(minibatches are whole environment sequences), got {num_minibatches}"
                )
        elif self.batch_size % num_minibatches:
            raise ValueError(
                f"num_minibatches: must divide num_envs * num_steps = {self.batch_size}, got {num_minibatches}"
            )
        network = self.network
        if self.env_params or network.torso == "cnn" or network.log_std_init != 0.0:
            env, env_params = make_env(  # validates the parameter names
                self.env, **dict(self.env_params))
            if network.log_std_init != 0.0 and is_discrete(env, env_params):
                raise ValueError(
                    f"log_std_init: sets the Gaussian policy's initial σ, but {self.env}'s actions are discrete "
                    f"(leave it at 0.0), got {network.log_std_init!r}"
                )
            if network.torso == "cnn":
                shape = env.observation_space(env_params).shape
                if len(shape) != 3:
                    raise ValueError(f"torso: 'cnn' needs image observations [H, W, C]; {self.env}'s are {shape}")

    @property
    def recurrent(self) -> bool:
        """Whether `network` names a recurrent network (learning then replays sequences)."""
        return self.network.recurrent

    # --- derived sizes ---
    @property
    def minibatches(self) -> int:
        """Minibatches each pass over an iteration's batch is cut into (1: the whole batch)."""
        return 1

    @property
    def steps_per_iteration(self) -> int:
        """Optimiser steps per iteration; the learning-rate schedule holds its step size for them."""
        return 1

    @property
    def batch_size(self) -> int:
        """Transitions collected per iteration."""
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        """Iterations of collect-then-learn; `total_timesteps` is rounded down to whole iterations."""
        return self.total_timesteps // self.batch_size

    @classmethod
    def field_names(cls) -> list[str]:
        """Every field's name as configs, presets, the command line and config.json spell it:
        the network's fields flat, in place of `network`."""
        names = []
        for field in dataclasses.fields(cls):
            names.extend(NETWORK_FIELDS if field.name == "network" else [field.name])
        return names

    @classmethod
    def field_specs(cls) -> dict[str, dataclasses.Field]:
        """Flat name -> the dataclass field that holds it (default, rule and doc in its metadata)."""
        network_fields = {f.name: f for f in dataclasses.fields(NetworkConfig)}
        return {
            name: network_fields[NETWORK_FIELDS[name]] if name in NETWORK_FIELDS else cls.__dataclass_fields__[name]
            for name in cls.field_names()
        }

    def flat_fields(self) -> dict[str, Any]:
        """The config as flat name -> value, in `field_names` order (what config.json holds)."""
        return {
            name: getattr(self.network, NETWORK_FIELDS[name]) if name in NETWORK_FIELDS else getattr(self, name)
            for name in self.field_names()
        }

    @classmethod
    def make(cls, **fields):
        """Construct, turning an unknown field name into a `ValueError` that lists the known ones."""
        unknown = sorted(set(fields) - set(cls.field_names()))
        if unknown:
            close = {name: suggest(name, cls.field_names()) for name in unknown}
            hints = [f"{' or '.join(close[name])} for {name}" for name in unknown if close[name]]
            raise ValueError(
                f"{', '.join(unknown)}: unknown field(s) of {cls.__module__}.{cls.__qualname__}"
                + (f" (did you mean {'; '.join(hints)}?)" if hints else "")
                + f"; known fields: {', '.join(cls.field_names())}"
            )
        return cls(**fields)

    @classmethod
    def for_env(cls, env_name: str, **overrides):
        """The tuned preset for `env_name` (the defaults where none is tuned), with overrides applied."""
        return cls.make(**{"env": env_name, **cls.PRESETS.get(env_name, {}), **overrides})


@config_dataclass
class ActorCriticConfig(BaseConfig):
    """Fields of the methods that learn from GAE advantages with the shared actor-critic
    loss, `learning.actor_critic_loss` (A2C, PPO, PPO-KL)."""

    RECURRENT_NETWORKS: ClassVar[bool] = True

    normalize_advantages: bool = static(True, BOOL, "standardise advantages per minibatch")
    gae_lambda: float = hyper(0.95, UNIT_INTERVAL, "GAE λ")
    ent_coef: float = hyper(0.01, NON_NEGATIVE, "entropy bonus coefficient")
    vf_coef: float = hyper(0.5, NON_NEGATIVE, "value loss coefficient")


@config_dataclass
class EpochsConfig(ActorCriticConfig):
    """An actor-critic that reuses each batch for several epochs of minibatches (PPO, PPO-KL)."""

    update_epochs: int = static(4, POSITIVE_INT, "passes over each batch")
    num_minibatches: int = static(4, POSITIVE_INT, "minibatches per pass")

    minibatches = property(lambda self: self.num_minibatches)
    steps_per_iteration = property(lambda self: self.update_epochs * self.num_minibatches)


@config_dataclass
class EpisodicConfig(BaseConfig):
    """Fields of the Monte-Carlo methods, which reset every environment each iteration
    and learn from whole episodes (`pgjax.rollout.rollout_episodes`)."""

    num_steps: int = static(
        500, POSITIVE_INT,
        "window simulated per environment per iteration; its first episode counts, so make it at least "
        "the episode length (an episode still running at the window's end is cut)",
    )
    ent_coef: float = hyper(0.0, NON_NEGATIVE, "entropy bonus coefficient")
    # Each window starts a fresh episode, replayed from a fresh carry (`episodic.learning_layout`).
    RECURRENT_NETWORKS: ClassVar[bool] = True
    loss_agg_mode: str = static(
        "token-mean", one_of(AGGREGATIONS),
        "how the policy loss's per-step terms are averaged over the episodes (verl's names: token-mean, "
        "seq-mean-token-mean, seq-mean-token-sum, seq-mean-token-sum-norm; see pgjax.losses.aggregation_scale)",
    )

    def check(self):
        super().check()
        # The running statistics of these wrappers are re-initialised by every reset, and
        # these methods reset every iteration, so the statistics would never accumulate.
        for name in ("normalize_observations", "scale_rewards"):
            if getattr(self, name):
                raise ValueError(f"{name}: must be False for episodic collection (every iteration resets the "
                                 f"environments and with them the running statistics)")


@config_dataclass
class GroupConfig(EpisodicConfig):
    """Episodes in groups of `group_size` that start from one shared initial state
    (RLOO, GRPO): `num_envs = num_groups · group_size`."""

    num_envs: int = static(16, POSITIVE_INT, "parallel environments, num_groups * group_size")
    num_groups: int = static(4, POSITIVE_INT, "groups of environments that share an initial state")
    group_size: int = static(4, POSITIVE_INT, "environments (episodes) per group, K")

    def check(self):
        super().check()
        if self.group_size < 2:
            raise ValueError(f"group_size: must be at least 2 (a group baseline needs other episodes), "
                             f"got {self.group_size}")
        if self.num_envs != self.num_groups * self.group_size:
            raise ValueError(f"num_envs: must equal num_groups * group_size = "
                             f"{self.num_groups} * {self.group_size}, got {self.num_envs}")
