"""Learning-curve figures: mean ± one standard deviation over seeds; for token tasks, reward,
KL and completion length side by side, and a sweep's reward-vs-KL frontier.

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


def _draw_band(axes, env_steps, values, label: str, color=None, linestyle="-", alpha=0.2):
    """One mean ± std band over the seeds of `values [S, I]`; returns the mean's line."""
    mean, std = mean_std_band(values)
    (line,) = axes.plot(env_steps, mean, label=label, color=color, linestyle=linestyle)
    axes.fill_between(env_steps, mean - std, mean + std, color=line.get_color(), alpha=alpha, linewidth=0)
    return line


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
        mean, _ = mean_std_band(returns)
        if env_steps.shape != mean.shape:
            raise ValueError(
                f"curves[{label!r}]: env_steps has shape {env_steps.shape} but returns has "
                f"{mean.shape[0]} iterations"
            )
        num_seeds = np.asarray(returns).shape[0]
        _draw_band(axes, env_steps, returns, f"{label} ({num_seeds} seed{'s' * (num_seeds != 1)})", alpha=0.25)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    if title:
        axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def _checked_curve(name: str, values, num_iterations: int) -> np.ndarray:
    """`values` as a float `[seeds, iterations]` array, or a `ValueError` naming `name`."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != num_iterations:
        raise ValueError(
            f"{name}: must have shape [seeds, iterations] with {num_iterations} iterations (as env_steps), "
            f"got shape {values.shape}"
        )
    return values


def plot_token_curves(
    env_steps,
    episode_return,
    episode_length,
    path: str | Path,
    reference_kl=None,
    completion_clipped_fraction=None,
    title: str = "",
    no_kl_note: str = "this method has no reference policy,\nso there is no KL to one",
) -> Path:
    """The three curves of language-model RL, side by side, mean ± std over seeds.

    Panels: reward (`episode_return`), KL(π‖π_ref) to the reference policy (`reference_kl`;
    `None` writes `no_kl_note` in the panel instead, for methods without a reference policy),
    and completion length (`episode_length`), with the share of completions that hit the
    maximum length without EOS (`completion_clipped_fraction`, if given) on a second y axis
    of that panel.

    `env_steps [I]`; every curve `[S, I]` (seeds, iterations). Returns the path written
    (format from its suffix).
    """
    env_steps = np.asarray(env_steps)
    if env_steps.ndim != 1:
        raise ValueError(f"env_steps: must have shape [iterations], got shape {env_steps.shape}")
    num_iterations = env_steps.shape[0]
    episode_return = _checked_curve("episode_return", episode_return, num_iterations)
    episode_length = _checked_curve("episode_length", episode_length, num_iterations)
    if reference_kl is not None:
        reference_kl = _checked_curve("reference_kl", reference_kl, num_iterations)
    if completion_clipped_fraction is not None:
        completion_clipped_fraction = _checked_curve(
            "completion_clipped_fraction", completion_clipped_fraction, num_iterations
        )
    num_seeds = episode_return.shape[0]
    seeds = f"{num_seeds} seed{'s' * (num_seeds != 1)}, mean ± std"

    figure = Figure(figsize=(14, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    reward_axes, kl_axes, length_axes = figure.subplots(1, 3, sharex=True)

    _draw_band(reward_axes, env_steps, episode_return, seeds)
    reward_axes.set_title("reward")
    reward_axes.set_ylabel("episode return")
    reward_axes.legend(loc="best")

    kl_axes.set_title("KL to the reference policy")
    if reference_kl is None:
        kl_axes.text(0.5, 0.5, no_kl_note, transform=kl_axes.transAxes, ha="center", va="center", color="0.35")
        kl_axes.set_yticks([])
    else:
        _draw_band(kl_axes, env_steps, reference_kl, seeds, color="C3")
        kl_axes.set_ylabel("reference_kl (per token)")
        kl_axes.legend(loc="best")

    length_axes.set_title("completion length")
    lines = [_draw_band(length_axes, env_steps, episode_length, f"episode_length ({seeds})", color="C2")]
    length_axes.set_ylabel("tokens per completion")
    legend_axes = length_axes
    if completion_clipped_fraction is not None:
        # The twin axes are drawn over the first: the legend goes on them, so no curve crosses it.
        legend_axes = length_axes.twinx()
        lines.append(_draw_band(legend_axes, env_steps, completion_clipped_fraction,
                                "clipped: max length, no EOS (right axis)", color="C4", linestyle="--"))
        legend_axes.set_ylabel("fraction of completions clipped")
        legend_axes.set_ylim(-0.05, 1.05)
    legend_axes.legend(lines, [line.get_label() for line in lines], loc="best", framealpha=0.9)

    for axes in (reward_axes, kl_axes, length_axes):
        axes.set_xlabel("environment steps")
        if axes is not kl_axes or reference_kl is not None:  # no grid behind the note
            axes.grid(alpha=0.3)
    if title:
        figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=110)
    return path


def plot_reward_vs_kl(
    reference_kl,
    episode_return,
    labels,
    path: str | Path,
    title: str = "",
) -> Path:
    """The reward-vs-KL frontier of a sweep: one point per grid point.

    `reference_kl [P, S]` and `episode_return [P, S]` are each run's final KL to the
    reference policy and final reward (P grid points, S seeds); `labels [P]` name the grid
    points. Each seed is a faint dot; each grid point is the mean over its seeds with
    ± one standard deviation as error bars in both directions, annotated with its label.
    Non-finite runs (diverged) are left out; a point with none left is not drawn.
    Returns the path written (format from its suffix).
    """
    reference_kl = np.asarray(reference_kl, dtype=np.float64)
    episode_return = np.asarray(episode_return, dtype=np.float64)
    labels = list(labels)
    if reference_kl.ndim != 2:
        raise ValueError(f"reference_kl: must have shape [points, seeds], got shape {reference_kl.shape}")
    if episode_return.shape != reference_kl.shape:
        raise ValueError(
            f"episode_return: must have the shape of reference_kl {reference_kl.shape}, got {episode_return.shape}"
        )
    if len(labels) != reference_kl.shape[0]:
        raise ValueError(f"labels: must name each of the {reference_kl.shape[0]} points, got {len(labels)}")

    figure = Figure(figsize=(7, 5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    num_seeds = reference_kl.shape[1]
    for index, label in enumerate(labels):
        finite = np.isfinite(reference_kl[index]) & np.isfinite(episode_return[index])
        if not finite.any():
            continue
        kl, reward = reference_kl[index, finite], episode_return[index, finite]
        color = f"C{index % 10}"
        axes.scatter(kl, reward, color=color, alpha=0.35, s=18, linewidth=0)
        axes.errorbar(kl.mean(), reward.mean(), xerr=kl.std(), yerr=reward.std(), fmt="o", color=color,
                      markersize=7, capsize=3, label=label)
        axes.annotate(label, (kl.mean(), reward.mean()), textcoords="offset points", xytext=(6, 6), fontsize=9)
    axes.margins(0.15)  # room for the labels of the outermost points
    axes.set_xlabel("final KL to the reference policy (reference_kl)")
    axes.set_ylabel("final reward (episode return)")
    axes.set_title(title or "reward vs KL")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", title=f"mean ± std over {num_seeds} seed{'s' * (num_seeds != 1)}; dots: seeds",
                    title_fontsize=8)
    path = Path(path)
    figure.savefig(path, dpi=120)
    return path


def plot_sweep(result, path, title: str = "") -> None:
    """A PNG of a sweep's mean learning curves per grid point, shaded over seeds
    (`result` a `pgjax.runs.sweep.SweepResult`)."""
    curves = {}
    for point in range(len(result.points)):
        runs = np.flatnonzero(result.run_point == point)
        curves[result.label(point)] = (result.metrics["env_steps"][:, runs[0]], result.metrics["episode_return"][:, runs].T)
    plot_learning_curves(curves, path, title)
