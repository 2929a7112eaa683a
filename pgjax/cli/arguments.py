"""The arguments `train` and `sweep` share, read into what they name: the algorithm and the
environment (with a suggestion for a misspelt one), the config (its preset with `--set` and
`--total-timesteps` applied), and counts that must be positive.

Every bad argument is a `UsageError`: one `error: ...` line that names the flag.
"""

from __future__ import annotations

import gymnax

from pgjax.algorithms import ALGORITHMS
from pgjax.algorithms.config import suggest
from pgjax.algorithms.config_io import parse_overrides
from pgjax.cli.defaults import DEFAULT_ALGORITHM, DEFAULT_ENV
from pgjax.cli.errors import UsageError


def _did_you_mean(name: str, known) -> str:
    close = suggest(name, known)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _looks_like_env(name: str) -> bool:
    """A misspelt environment rather than a misspelt algorithm: closer to an environment's
    name, or shaped like one (`Name-v1`, `Catch-bsuite`)."""
    suffixes = {env.rpartition("-")[2] for env in gymnax.registered_envs if "-" in env}
    if "-" in name and name.rpartition("-")[2] in suffixes:
        return True
    return bool(suggest(name, gymnax.registered_envs)) and not suggest(name, ALGORITHMS)


def resolve_algorithm_and_env(algorithm: str | None, env: str | None) -> tuple[str, str]:
    """The ALGO and ENV arguments, defaults filled in; a lone environment name
    (`pgjax train Acrobot-v1`) means the default algorithm."""
    if algorithm is not None and env is None and algorithm not in ALGORITHMS and (
        algorithm in gymnax.registered_envs or _looks_like_env(algorithm)
    ):
        algorithm, env = None, algorithm
    algorithm = algorithm or DEFAULT_ALGORITHM
    env = env or DEFAULT_ENV
    if algorithm not in ALGORITHMS:
        raise UsageError(
            f"unknown algorithm {algorithm!r}{_did_you_mean(algorithm, ALGORITHMS)} (known algorithms: {', '.join(ALGORITHMS)})"
        )
    if env not in gymnax.registered_envs:
        raise UsageError(
            f"unknown environment {env!r}{_did_you_mean(env, gymnax.registered_envs)} "
            "(see `pgjax list` for the gymnax environments)"
        )
    return algorithm, env


def make_config(module, env: str, args):
    """`module.Config.for_env(env)` with `--total-timesteps` and the `--set` overrides applied."""
    for assignment in args.assignments:
        if assignment.partition("=")[0].strip() == "env":
            # The preset is chosen by the ENV argument; `--set env=` would train one environment
            # with another's preset and label the run wrongly.
            raise UsageError("--set env: give the environment as the ENV argument (pgjax train ALGO ENV), not with --set")
    overrides = {} if args.total_timesteps is None else {"total_timesteps": args.total_timesteps}
    try:
        overrides.update(parse_overrides(module.Config, args.assignments))
    except ValueError as error:
        raise UsageError(f"--set {error}") from None
    try:
        return module.Config.for_env(env, **overrides)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def positive(flag: str, value: int | None) -> None:
    """`value` (None: not given) must be at least 1."""
    if value is not None and value < 1:
        raise UsageError(f"{flag}: must be a positive integer, got {value}")


def non_negative(flag: str, value: int | None) -> None:
    """`value` (None: not given) must be at least 0."""
    if value is not None and value < 0:
        raise UsageError(f"{flag}: must be a non-negative integer, got {value}")
