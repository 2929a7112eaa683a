"""Networks by name: `network="mlp" | "gru" | "transformer"`, or one added with
`register_network`. The registry knows no environment: the builder passes the spaces in."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from gymnax.environments import spaces

from pgjax.networks.gru import gru_network
from pgjax.networks.mlp import mlp_network
from pgjax.networks.transformer import transformer_network

NetworkFactory = Callable[..., Any]


@dataclasses.dataclass(frozen=True)
class NetworkKind:
    """One entry of `NETWORKS`: the factory that builds the network, and whether it has memory."""

    factory: NetworkFactory  # (action_dim, discrete, obs_ndim, network_config) -> network
    recurrent: bool
    # The factory takes the observation's shape (a tuple) in place of its number of axes.
    obs_shape: bool = False


NETWORKS: dict[str, NetworkKind] = {
    "mlp": NetworkKind(mlp_network, False),
    "gru": NetworkKind(gru_network, True),
    "transformer": NetworkKind(transformer_network, True, obs_shape=True),
}


def register_network(name: str, factory: NetworkFactory, recurrent: bool, obs_shape: bool = False) -> None:
    """Make `network=name` build `factory(action_dim, discrete, obs_ndim, network_config)`, an
    object with the interface of `pgjax.networks.interface` (`factory(action_dim, discrete,
    obs_shape, network_config)` with `obs_shape=True`); `network_config` is the config's
    `network` (`pgjax.algorithms.config.NetworkConfig`: `hidden_sizes`, `activation`, …).
    `recurrent` says whether its carry is a real memory (learning then replays whole
    environment sequences). A factory for continuous actions should start its Gaussian at
    `network_config.log_std_init`, as the built-in ones do."""
    if name in NETWORKS:
        raise ValueError(f"network: {name!r} is already registered")
    NETWORKS[name] = NetworkKind(factory, recurrent, obs_shape)


def make_network(network_config, observation_space, action_space):
    """The network `network_config` (a config's `network`) describes, sized for these observation
    and action spaces (gymnax spaces: a `Discrete` action space gives a categorical policy, a
    `Box` a Gaussian)."""
    discrete = isinstance(action_space, spaces.Discrete)
    obs_shape = tuple(observation_space.shape)
    action_dim = action_space.n if discrete else action_space.shape[0]
    kind = NETWORKS[network_config.kind]
    return kind.factory(action_dim, discrete, obs_shape if kind.obs_shape else len(obs_shape), network_config)
