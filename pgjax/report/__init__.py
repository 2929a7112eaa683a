"""What a run reports, on the host: metric sinks (CSV, JSONL, TensorBoard, wandb), the
progress bar, figures, statistics over seeds (IQM, bootstrap intervals, performance
profiles) and the detection of runs that went NaN. Nothing here is part of training."""

from pgjax.report.divergence import nan_onsets
from pgjax.report.plots import plot_learning_curves, plot_reward_vs_kl, plot_sweep, plot_token_curves
from pgjax.report.progress import Progress
from pgjax.report.sinks import SINKS, MetricsLogger, make_sink
from pgjax.report.statistics import iqm, performance_profile, stratified_bootstrap_ci

__all__ = [
    "SINKS", "MetricsLogger", "Progress", "iqm", "make_sink", "nan_onsets", "performance_profile",
    "plot_learning_curves", "plot_reward_vs_kl", "plot_sweep", "plot_token_curves", "stratified_bootstrap_ci",
]
