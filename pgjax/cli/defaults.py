"""What the `pgjax` command assumes when not told: read by the parser's help texts and by the
commands that apply it, so the two cannot disagree.

A leaf, like `pgjax.cli.errors`: the light parser imports it before anything starts JAX.
"""

DEFAULT_ALGORITHM = "ppo"
DEFAULT_ENV = "CartPole-v1"
DEFAULT_EVAL_EPISODES = 32  # evaluation episodes per seed after `pgjax train`
