"""Actor-critic networks (flax.linen, orthogonally initialised) behind one interface with a
carry (`interface`): feed-forward (`mlp`), recurrent (`gru`) and a causal transformer over
token observations (`transformer`), built by name (`registry`)."""

from pgjax.networks.gru import Recurrent, RecurrentActorCritic
from pgjax.networks.initializers import orthogonal
from pgjax.networks.interface import Network
from pgjax.networks.mlp import (
    ACTIVATIONS,
    TORSOS,
    ActorCritic,
    ActorCriticParams,
    CNNTorso,
    Conv3x3,
    FeedForward,
    LogStd,
    MLPTorso,
)
from pgjax.networks.registry import (
    NETWORKS,
    NetworkKind,
    make_network,
    register_network,
)
from pgjax.networks.transformer import CausalTransformer, KVCache, Transformer

__all__ = [
    "ACTIVATIONS", "ActorCritic", "ActorCriticParams", "CNNTorso", "CausalTransformer", "Conv3x3", "FeedForward", "KVCache", "LogStd", "MLPTorso",
    "NETWORKS", "Network", "NetworkKind", "Recurrent", "RecurrentActorCritic", "TORSOS", "Transformer",
    "make_network", "orthogonal", "register_network",
]
