"""Learning-curve figures."""

import numpy as np
import pytest
from matplotlib.image import imread

from pgjax.plots import mean_std_band, plot_learning_curves


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
