"""Learning-curve figures: mean ± one standard deviation over seeds.

Figures are drawn with matplotlib's object-oriented API on an Agg canvas, so
nothing here touches pyplot's global state or needs a display.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def mean_std_band(returns) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) standard deviation over seeds of `returns [S, I]`, per iteration.

    NaN entries (a run with no finished episode yet) are left out; an iteration
    where every seed is NaN gives NaN, which matplotlib leaves as a gap.
    """
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2:
        raise ValueError(f"returns: must have shape [seeds, iterations], got shape {returns.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.nanmean(returns, axis=0), np.nanstd(returns, axis=0)


def plot_learning_curves(
    curves: Mapping[str, tuple],
    path: str | Path,
    title: str = "",
    xlabel: str = "environment steps",
    ylabel: str = "episode return",
) -> Path:
    """Draw one mean ± std band per label and save the figure to `path` (format from its suffix).

    `curves[label] = (env_steps [I], returns [S, I])`. Returns the path written.
    """
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for label, (env_steps, returns) in curves.items():
        env_steps = np.asarray(env_steps)
        mean, std = mean_std_band(returns)
        if env_steps.shape != mean.shape:
            raise ValueError(
                f"curves[{label!r}]: env_steps has shape {env_steps.shape} but returns has "
                f"{mean.shape[0]} iterations"
            )
        num_seeds = np.asarray(returns).shape[0]
        (line,) = axes.plot(env_steps, mean, label=f"{label} ({num_seeds} seed{'s' * (num_seeds != 1)})")
        axes.fill_between(env_steps, mean - std, mean + std, color=line.get_color(), alpha=0.25, linewidth=0)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path
