"""Learning-curve figures, the token-task curves and the reward-vs-KL frontier."""

import numpy as np
import pytest
from matplotlib.image import imread

from pgjax.report.plots import mean_std_band, plot_learning_curves, plot_reward_vs_kl, plot_token_curves


def test_band_is_the_nan_aware_mean_and_std_over_seeds():
    returns = np.array([[1.0, np.nan, 3.0, np.nan], [3.0, 4.0, 5.0, np.nan], [5.0, 8.0, 4.0, np.nan]])
    mean, std = mean_std_band(returns)
    for i in range(returns.shape[1]):
        finite = [r for r in returns[:, i] if not np.isnan(r)]
        if not finite:
            assert np.isnan(mean[i]) and np.isnan(std[i])
            continue
        m = sum(finite) / len(finite)
        assert mean[i] == pytest.approx(m)
        assert std[i] == pytest.approx((sum((r - m) ** 2 for r in finite) / len(finite)) ** 0.5)


def test_plot_writes_a_png_with_one_band_per_label(tmp_path):
    steps = np.arange(1, 11) * 512
    rng = np.random.default_rng(0)
    curves = {"ppo": (steps, rng.normal(size=(3, 10)).cumsum(1)), "a2c": (steps, rng.normal(size=(1, 10)))}
    path = plot_learning_curves(curves, tmp_path / "curve.png", title="test")
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.ptp(image[..., :3]) > 0.5  # something was drawn


def test_mismatched_shapes_are_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="env_steps"):
        plot_learning_curves({"x": (np.arange(5), np.zeros((2, 6)))}, tmp_path / "c.png")
    with pytest.raises(ValueError, match="returns"):
        plot_learning_curves({"x": (np.arange(5), np.zeros(5))}, tmp_path / "c.png")


def _is_a_drawn_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = imread(path)
    return image.ndim == 3 and image.shape[0] > 100 and np.ptp(image[..., :3]) > 0.5


@pytest.mark.parametrize("with_kl, with_clipped", [(True, True), (False, False)])
def test_token_curves_draw_with_and_without_the_optional_metrics(tmp_path, with_kl, with_clipped):
    steps = np.arange(1, 9) * 64
    rng = np.random.default_rng(1)
    curves = dict(episode_return=rng.uniform(size=(3, 8)), episode_length=rng.integers(1, 6, size=(3, 8)))
    if with_kl:
        curves["reference_kl"] = rng.uniform(0, 0.1, size=(3, 8))
    if with_clipped:
        curves["completion_clipped_fraction"] = rng.uniform(size=(3, 8))
    path = plot_token_curves(steps, path=tmp_path / "tokens.png", title="grpo on CopyEOS-tokens-v0", **curves)
    assert path == tmp_path / "tokens.png" and _is_a_drawn_png(path)


@pytest.mark.parametrize("bad", ["episode_return", "episode_length", "reference_kl", "completion_clipped_fraction"])
def test_token_curves_of_the_wrong_shape_name_the_argument(tmp_path, bad):
    curves = {name: np.zeros((2, 5)) for name in ("episode_return", "episode_length", "reference_kl",
                                                  "completion_clipped_fraction")}
    curves[bad] = np.zeros((2, 6))
    with pytest.raises(ValueError, match=f"^{bad}: .*5 iterations"):
        plot_token_curves(np.arange(5), path=tmp_path / "t.png", **curves)
    with pytest.raises(ValueError, match="^env_steps: "):
        plot_token_curves(np.zeros((5, 1)), np.zeros((2, 5)), np.zeros((2, 5)), tmp_path / "t.png")


def test_reward_vs_kl_draws_one_labelled_point_per_grid_point(tmp_path):
    rng = np.random.default_rng(2)
    kl = np.array([[0.2, 0.3, 0.25], [0.05, 0.04, np.nan], [np.nan, np.nan, np.nan]])  # a diverged run, a point
    reward = rng.uniform(size=(3, 3))
    path = plot_reward_vs_kl(kl, reward, ["kl_coef=0", "kl_coef=0.01", "kl_coef=0.1"], tmp_path / "frontier.png")
    assert _is_a_drawn_png(path)


def test_reward_vs_kl_of_mismatched_shapes_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="^reference_kl: "):
        plot_reward_vs_kl(np.zeros(3), np.zeros(3), ["a", "b", "c"], tmp_path / "f.png")
    with pytest.raises(ValueError, match="^episode_return: "):
        plot_reward_vs_kl(np.zeros((3, 2)), np.zeros((3, 1)), ["a", "b", "c"], tmp_path / "f.png")
    with pytest.raises(ValueError, match="^labels: "):
        plot_reward_vs_kl(np.zeros((3, 2)), np.zeros((3, 2)), ["a", "b"], tmp_path / "f.png")
