"""studies/cartpole_failures: how episodes end is read from the right observation entries,
each seed's training history, and what the file says (the --out guard, no failing seed)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import presets
from pgjax.algorithms import build, ppo
from pgjax.envs import RunningMeanStd
from studies import cartpole_failures


def test_an_untrained_policy_drops_the_pole_long_before_the_cart_leaves():
    # A near-uniform random policy: the pole falls within a few dozen steps (gymnax's random
    # CartPole episodes last about 22 steps); the cart has no time to reach ±2.4.
    config = ppo.Config(env="CartPole-v1", hidden_sizes=(8,))
    params = build.init_state(config, jax.random.key(0)).params
    ends = cartpole_failures.episode_ends(config, params, jax.random.key(1), num_episodes=32)
    assert ends["fallen"] >= 0.9 and ends["off_track"] <= 0.1 and ends["time_limit"] == 0.0
    assert 8 <= ends["length"] <= 60


def test_a_normalising_preset_needs_the_trained_statistics():
    config = ppo.Config(env="CartPole-v1", normalize_observations=True)
    with pytest.raises(ValueError, match="obs_statistics: this preset normalises observations"):
        cartpole_failures.episode_ends(config, None, jax.random.key(0))


def test_the_policy_sees_normalised_observations_and_the_ends_are_read_from_raw_ones():
    # Statistics (m, s²) and a first layer rescaled to match, W' = diag(s) W and
    # b' = b + mᵀW, give the normalising policy exactly the raw policy's logits, so every
    # episode must end as it does without normalisation. Reading the ends from the
    # normalised observations, or feeding the policy raw ones, would change them.
    raw = ppo.Config(env="CartPole-v1", hidden_sizes=(8,))
    params = build.init_state(raw, jax.random.key(0)).params
    # A decisive policy (large logits), so that what it is shown changes what it does.
    params.actor["params"]["actor_head"]["kernel"] = 30 * params.actor["params"]["actor_head"]["kernel"]
    mean = jnp.asarray([0.3, -0.5, 0.02, 0.4])
    std = jnp.asarray([0.5, 2.0, 0.1, 3.0])
    statistics = RunningMeanStd(mean, std**2, jnp.asarray(1000.0))

    def first_layer(layer):
        if not isinstance(layer, dict):
            return layer
        if "kernel" in layer and layer["kernel"].shape[0] == 4:  # the two torsos' input layers
            return {"kernel": layer["kernel"] * std[:, None], "bias": layer["bias"] + mean @ layer["kernel"]}
        return {name: first_layer(value) for name, value in layer.items()}

    rescaled = params._replace(actor=first_layer(params.actor), critic=first_layer(params.critic))
    assert not jnp.allclose(rescaled.actor["params"]["actor_torso"]["Dense_0"]["kernel"],
                            params.actor["params"]["actor_torso"]["Dense_0"]["kernel"])
    expected = cartpole_failures.episode_ends(raw, params, jax.random.key(1), num_episodes=32)
    got = cartpole_failures.episode_ends(raw.replace(normalize_observations=True), rescaled, jax.random.key(1),
                                         num_episodes=32, obs_statistics=statistics)
    assert got == pytest.approx(expected)
    assert expected["fallen"] > 0.5  # the ends are real ones


def test_episode_ends_refuses_recurrent_policies():
    config = ppo.Config(env="CartPole-v1", network="gru")
    with pytest.raises(ValueError, match="network: 'gru' is recurrent"):
        cartpole_failures.episode_ends(config, None, jax.random.key(0))


def test_training_history_marks_the_first_solve_and_the_collapse_after_it():
    # 10 iterations at 0 (the mean of a window over them is below 300, but that is before
    # the solve and must not count), 30 at 500, then 100 for good: a 20-iteration window
    # starting at or after iteration 10 averages below 300 once it holds 11 of the 100s,
    # so it first does when it ends at iteration 40 + 10 = 50.
    curve = np.array([0.0] * 10 + [500.0] * 30 + [100.0] * 40)
    assert cartpole_failures.training_history(curve, 475.0) == (10, 50)
    # A dip to 250 for 10 iterations: windows hold at most 10 low values, mean ≥ 375.
    dip = np.array([500.0] * 30 + [250.0] * 10 + [500.0] * 30)
    assert cartpole_failures.training_history(dip, 475.0) == (0, None)
    assert cartpole_failures.training_history(np.full(50, 200.0), 475.0) == (None, None)
    # Fewer iterations after the solve than one window: no collapse can be read.
    assert cartpole_failures.training_history(np.array([0.0, 500.0, 0.0]), 475.0) == (1, None)


def test_an_out_file_in_a_missing_folder_is_refused_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(presets, "train", lambda *args, **kwargs: pytest.fail("trained before the guard"))
    with pytest.raises(SystemExit) as raised:
        cartpole_failures.main(["--out", str(tmp_path / "missing" / "failures.md")])
    assert raised.value.code == 2
    assert "--out: " in capsys.readouterr().err


def test_when_no_seed_fails_the_file_says_so_instead_of_an_empty_table(tmp_path, monkeypatch):
    config = ppo.Config.for_env("CartPole-v1").replace(scale_rewards=True)
    curve = np.array([[0.0, 0.0], [500.0, 500.0], [100.0, 500.0]] + [[500.0, 500.0]] * 40)
    metrics = {"episode_return": curve, "value_loss": np.zeros_like(curve)}
    monkeypatch.setattr(presets, "train", lambda *args, **kwargs: (config, None, metrics, jax.random.key(0)))
    monkeypatch.setattr(presets, "score", lambda *args, **kwargs: np.array([500.0, 490.0]))
    markdown = cartpole_failures.main(["--algo", "ppo", "--seeds", "2", "--out", str(tmp_path / "f.md")])
    assert markdown.endswith("No seed failed.\n") and "| seed |" not in markdown
    assert "2 of 2 seeds reach 475" in markdown and "(on scaled rewards, as the critic sees them)" in markdown
    assert (tmp_path / "f.md").read_text() == markdown
