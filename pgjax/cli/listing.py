"""`pgjax list`: the algorithms, the gymnax environments, and which of them have a tuned preset."""

from __future__ import annotations

import sys

import gymnax

from pgjax.algorithms import ALGORITHMS


def command_list(out=None) -> int:
    out = out or sys.stdout  # looked up now, so redirections of sys.stdout are honoured
    print("algorithms:", file=out)
    width = max(len(name) for name in ALGORITHMS)
    for name, module in ALGORITHMS.items():
        summary = (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""
        print(f"  {name:<{width}}  {summary}", file=out)
    print("\nenvironments (gymnax), with the algorithms that have a tuned preset for them:", file=out)
    env_width = max(len(env) for env in gymnax.registered_envs)
    for env in gymnax.registered_envs:
        tuned = [name for name, module in ALGORITHMS.items() if env in module.Config.PRESETS]
        print(f"  {env:<{env_width}}  {'presets: ' + ', '.join(tuned) if tuned else ''}".rstrip(), file=out)
    print("\npresets per algorithm:", file=out)
    for name, module in ALGORITHMS.items():
        print(f"  {name:<{width}}  {', '.join(module.Config.PRESETS) or '(none)'}", file=out)
    return 0
