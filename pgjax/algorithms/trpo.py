"""Trust region policy optimisation, TRPO (Schulman et al., 2015), with a GAE critic.

One iteration: roll out, estimate advantages with GAE, then

1. actor: one natural-gradient step on the surrogate
   `L(θ) = mean(π_θ(a|s) / π_old(a|s) · A)` subject to `D̄(θ) = mean KL(π_old ‖ π_θ) ≤ max_kl`,
   the direction (F + λI)⁻¹∇L from `cg_iterations` of conjugate gradient on
   Fisher–vector products (F = ∇²D̄ at θ_old, never materialised), scaled so the
   quadratic KL model equals `max_kl`, then halved (`backtrack_ratio`) up to
   `line_search_steps` times until the true KL is ≤ max_kl and L improved;
2. critic: `update_epochs × num_minibatches` Adam steps on ½(V − target)².

The network's parameters are `ActorCriticParams` (actor and critic apart): the
trust region is over the actor's parameters only, and the Adam state covers only
the critic's.
"""

from __future__ import annotations

import jax
from jax.flatten_util import ravel_pytree

from pgjax import losses, optim
from pgjax.advantages import normalize
from pgjax.algorithms import acting, build, evaluation, learning, presets, scan
from pgjax.algorithms.build import TrainState
from pgjax.algorithms.config import (
    BOOL,
    OPEN_UNIT_INTERVAL,
    POSITIVE,
    POSITIVE_INT,
    UNIT_INTERVAL,
    BaseConfig,
    config_dataclass,
    hyper,
    static,
)
from pgjax.networks import ActorCriticParams, FeedForward


@config_dataclass
class Config(BaseConfig):
    """TRPO (Schulman et al., 2015): a natural-gradient step for the actor inside a KL trust region
    (`max_kl`, `cg_iterations`, `cg_damping`, `line_search_steps`, `backtrack_ratio`), and Adam
    steps for the critic (`learning_rate`, `update_epochs × num_minibatches`).
    """

    update_epochs: int = static(5, POSITIVE_INT, "critic passes over each batch")
    num_minibatches: int = static(4, POSITIVE_INT, "critic minibatches per pass")
    cg_iterations: int = static(10, POSITIVE_INT, "conjugate-gradient iterations for the natural gradient")
    line_search_steps: int = static(10, POSITIVE_INT, "most backtracking steps before the update is rejected")
    normalize_advantages: bool = static(True, BOOL, "standardise advantages over each batch")
    num_envs: int = static(8, POSITIVE_INT, "parallel environments")
    num_steps: int = static(256, POSITIVE_INT, "steps per environment per iteration")
    learning_rate: float = hyper(1e-3, POSITIVE, "critic's Adam step size")
    max_grad_norm: float = hyper(0.5, POSITIVE, "critic's global gradient-norm clip")
    gae_lambda: float = hyper(0.95, UNIT_INTERVAL, "GAE λ")
    max_kl: float = hyper(0.01, POSITIVE, "trust region: most mean KL(π_old ‖ π) per update")
    cg_damping: float = hyper(0.1, POSITIVE, "λ added to the Fisher's diagonal")
    backtrack_ratio: float = hyper(0.5, OPEN_UNIT_INTERVAL, "line-search step shrink factor")

    minibatches = property(lambda self: self.num_minibatches)
    steps_per_iteration = property(lambda self: self.update_epochs * self.num_minibatches)

    PRESETS = presets.TRPO


def init(config: Config, key) -> TrainState:
    """A fresh `TrainState` for `config`: network and optimiser initialised from `key`, the
    environments reset. The optimiser state is the critic's only."""
    state = build.init_state(config, key)
    return state.replace(opt_state=build.make_optimizer(config).init(state.params.critic))


def _natural_gradient_step(config: Config, network: FeedForward, actor, critic, batch: learning.Batch):
    """The actor parameters after one line-searched trust-region step, and metrics."""
    flat_actor, unravel = ravel_pytree(actor)
    advantages = normalize(batch.advantages) if config.normalize_advantages else batch.advantages

    def policy(flat):
        return network.unroll_policy(ActorCriticParams(unravel(flat), critic), batch.carry, batch.obs, batch.reset)

    def surrogate(flat):
        loss, _ = losses.importance_weighted_loss(
            policy(flat).log_prob(batch.action), batch.log_prob, advantages
        )
        return -loss

    def mean_kl(flat):
        return batch.old_policy.kl(policy(flat)).mean()

    old_surrogate, gradient = jax.value_and_grad(surrogate)(flat_actor)
    fisher = optim.fisher_vector_product_fn(mean_kl, flat_actor, config.cg_damping)
    full_step, expected_improvement = optim.trust_region_step(fisher, gradient, config.max_kl, config.cg_iterations)

    def is_acceptable(candidate):
        return (mean_kl(candidate) <= config.max_kl) & (surrogate(candidate) > old_surrogate)

    flat_actor, step_fraction = optim.backtracking_line_search(
        is_acceptable, flat_actor, full_step, config.line_search_steps, config.backtrack_ratio
    )
    metrics = {
        "surrogate_improvement": surrogate(flat_actor) - old_surrogate,
        "expected_improvement": expected_improvement,
        "kl": mean_kl(flat_actor),
        "step_fraction": step_fraction,
        "entropy": policy(flat_actor).entropy().mean(),
    }
    return unravel(flat_actor), metrics


def update(config: Config, state: TrainState):
    """One iteration: roll out, estimate advantages with GAE, one line-searched trust-region step for the
    actor, then the critic's Adam steps on the value loss.

    Returns `(state, metrics)`, metrics a dict of scalars.
    """
    setup = build.build(config)
    network = setup.network
    state, trajectory, carry = acting.collect(config, setup, state)
    batch = learning.advantage_batch(config, setup, trajectory, carry)
    batch = batch.replace(old_policy=learning.replay(setup, state.params, batch, policy_only=True))
    actor, critic = state.params
    actor, actor_metrics = _natural_gradient_step(config, network, actor, critic, batch)

    def critic_loss(critic, batch):
        values = network.value(ActorCriticParams(actor, critic), batch.carry, batch.obs)
        return losses.value_loss(values, batch.targets), {}

    step_size = build.current_learning_rate(config, state.opt_state)
    critic_key, key = jax.random.split(state.key)
    (critic, opt_state), critic_metrics = learning.minibatch_epochs(
        learning.gradient_step(critic_loss, setup.optimizer), (critic, state.opt_state),
        batch, critic_key, config.update_epochs, config.num_minibatches,
    )
    state = state.replace(params=ActorCriticParams(actor, critic), opt_state=opt_state, key=key)
    return acting.finish_iteration(
        config, state, trajectory, {**actor_metrics, "value_loss": critic_metrics["loss"], "learning_rate": step_size}
    )


# The rest of the protocol (`pgjax.runs.protocol.Algorithm`), shared by every algorithm.
train, train_batch = scan.entry_points(init, update)
evaluate = evaluation.evaluate
