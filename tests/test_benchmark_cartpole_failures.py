"""benchmarks/cartpole_failures: how episodes end is read from the right observation entries."""

import jax
import pytest

from benchmarks import cartpole_failures, presets
from pgjax.algorithms import ppo
from pgjax.algorithms.build import init_state


def test_an_untrained_policy_drops_the_pole_long_before_the_cart_leaves():
    # A near-uniform random policy: the pole falls within a few dozen steps (gymnax's random
    # CartPole episodes last about 22 steps); the cart has no time to reach ±2.4.
    config = ppo.Config(env="CartPole-v1", hidden_sizes=(8,))
    params = init_state(config, jax.random.key(0)).params
    ends = cartpole_failures.episode_ends(config, params, jax.random.key(1), num_episodes=32)
    assert ends["fallen"] >= 0.9 and ends["off_track"] <= 0.1 and ends["time_limit"] == 0.0
    assert 8 <= ends["length"] <= 60


def test_normalised_observations_are_refused():
    config = ppo.Config(env="CartPole-v1", normalize_observations=True)
    with pytest.raises(ValueError, match="normalize_observations: the ends are read from raw observations"):
        cartpole_failures.episode_ends(config, None, jax.random.key(0))


@pytest.mark.parametrize("out", [None, "presets.txt"])
def test_presets_set_needs_an_out_of_its_own(out, monkeypatch, capsys):
    # Nothing may be trained or written: the guard comes first.
    monkeypatch.setattr(presets, "measure", lambda *args, **kwargs: pytest.fail("trained before the guard"))
    argv = ["--algos", "ppo_kl", "--envs", "CartPole-v1", "--set", "gamma=0.995"]
    if out:  # same stem: it would write benchmarks/presets.json
        argv += ["--out", str(presets.HERE / out)]
    with pytest.raises(SystemExit) as raised:
        presets.main(argv)
    assert raised.value.code == 2
    assert "--set: give an --out of its own (not benchmarks/presets.*)" in capsys.readouterr().err


def test_episode_ends_refuses_recurrent_policies():
    config = ppo.Config(env="CartPole-v1", network="gru")
    with pytest.raises(ValueError, match="network: 'gru' is recurrent"):
        cartpole_failures.episode_ends(config, None, jax.random.key(0))
