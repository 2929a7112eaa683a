"""The README's code examples run as printed. The building-block example's learning, on
several seeds: tests/learning/test_readme_example.py."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).parent.parent / "README.md"


def python_block_after(heading: str) -> str:
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_custom_token_reward_example_runs_as_printed():
    import jax

    namespace: dict = {}
    exec(compile(python_block_after("Composing your own reward"), "README.md", "exec"), namespace)
    config = namespace["config"]
    assert config.env == "ReverseFirst3-tokens-v0" and config.kl_estimator == "k3"
    env = namespace["ReverseWithPartialCredit"]()
    _, state = env.reset_with_prompt(123)  # "123=" → "321"; a right first digit alone is worth ½
    state = state.replace(tokens=state.tokens.at[4:7].set(jax.numpy.array([3, 0, 0])), length=7, time=3)
    assert float(env._score(state)) == 0.5
    _, metrics = jax.jit(namespace["grpo"].train)(config.replace(total_timesteps=config.batch_size * 2), jax.random.key(0))
    assert np.all(np.isfinite(metrics["loss"]))
