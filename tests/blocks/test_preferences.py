"""Preference losses against plain loops written here from their formulas: Bradley–Terry (with
margin, centring and weights), DPO and cDPO, IPO and sequence log-probabilities; their
gradients' signs and values; and the argument checks, each naming the argument."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pgjax.preferences import bradley_terry_loss, dpo_loss, ipo_loss, sequence_log_prob

B = 6


def neg_log_sigmoid(x: float) -> float:
    """−log σ(x) = log(1 + e^{−x}), stable on both sides."""
    return math.log1p(math.exp(-x)) if x > 0 else -x + math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def weighted_mean(values, weights):
    weights = [1.0] * len(values) if weights is None else list(weights)
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


@pytest.fixture
def rewards():
    rng = np.random.default_rng(0)
    chosen = rng.normal(0.5, 1.0, B).astype(np.float32)
    rejected = rng.normal(0.0, 1.0, B).astype(np.float32)
    return chosen, rejected


@pytest.fixture
def logps():
    rng = np.random.default_rng(1)
    ref_chosen, ref_rejected = (rng.normal(-20.0, 3.0, B).astype(np.float32) for _ in range(2))
    policy_chosen = (ref_chosen + rng.normal(0.3, 1.0, B)).astype(np.float32)
    policy_rejected = (ref_rejected + rng.normal(-0.3, 1.0, B)).astype(np.float32)
    return policy_chosen, policy_rejected, ref_chosen, ref_rejected


WEIGHTS = np.array([1.0, 0.0, 2.0, 0.5, 1.0, 3.0], np.float32)


def numpy_bradley_terry(chosen, rejected, margin, center_coef, weights):
    per_pair, centring = [], []
    for i in range(B):
        m = 0.0 if margin is None else float(np.broadcast_to(margin, (B,))[i])
        per_pair.append(neg_log_sigmoid(float(chosen[i]) - float(rejected[i]) - m))
        centring.append((float(chosen[i]) + float(rejected[i])) ** 2)
    loss = weighted_mean(per_pair, weights) + center_coef * weighted_mean(centring, weights)
    aux = {
        "accuracy": weighted_mean([float(c > r) for c, r in zip(chosen, rejected)], weights),
        "reward_margin": weighted_mean([float(c) - float(r) for c, r in zip(chosen, rejected)], weights),
        "chosen_reward": weighted_mean([float(c) for c in chosen], weights),
        "rejected_reward": weighted_mean([float(r) for r in rejected], weights),
    }
    return loss, aux


@pytest.mark.parametrize("margin", [None, 0.7, np.linspace(-0.5, 1.0, B).astype(np.float32)], ids=["none", "scalar", "array"])
@pytest.mark.parametrize("center_coef", [0.0, 0.3])
@pytest.mark.parametrize("weights", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_bradley_terry_loss_and_aux(rewards, margin, center_coef, weights):
    chosen, rejected = rewards
    loss, aux = bradley_terry_loss(chosen, rejected, margin=margin, center_coef=center_coef, weights=weights)
    expected_loss, expected_aux = numpy_bradley_terry(chosen, rejected, margin, center_coef, weights)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
    assert set(aux) == set(expected_aux)
    for name, value in expected_aux.items():
        assert np.ndim(aux[name]) == 0
        np.testing.assert_allclose(aux[name], value, rtol=1e-5, atol=1e-7, err_msg=name)
    # The data rank some pairs wrong, so the accuracy is a real fraction.
    assert 0.0 < expected_aux["accuracy"] < 1.0


def test_bradley_terry_gradient(rewards):
    chosen, rejected = rewards
    margin, coef = 0.2, 0.1
    grads = jax.grad(lambda c, r: bradley_terry_loss(c, r, margin, coef, WEIGHTS)[0], argnums=(0, 1))(chosen, rejected)
    total = WEIGHTS.sum()
    for i in range(B):
        push = sigmoid(-(float(chosen[i]) - float(rejected[i]) - margin))  # −d/dΔ of −log σ(Δ − m)
        centre = 2 * coef * (float(chosen[i]) + float(rejected[i]))
        np.testing.assert_allclose(grads[0][i], WEIGHTS[i] * (-push + centre) / total, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(grads[1][i], WEIGHTS[i] * (push + centre) / total, rtol=1e-4, atol=1e-7)
    # Without centring, the loss always raises the chosen reward and lowers the rejected one.
    plain = jax.grad(lambda c, r: bradley_terry_loss(c, r)[0], argnums=(0, 1))(chosen, rejected)
    assert np.all(plain[0] < 0) and np.all(plain[1] > 0)


def numpy_dpo(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta, smoothing, weights, kind="dpo"):
    losses, accurate, chosen_rewards, rejected_rewards = [], [], [], []
    for i in range(B):
        chosen_ratio = float(policy_chosen[i]) - float(ref_chosen[i])
        rejected_ratio = float(policy_rejected[i]) - float(ref_rejected[i])
        h = chosen_ratio - rejected_ratio
        if kind == "dpo":
            losses.append((1 - smoothing) * neg_log_sigmoid(beta * h) + smoothing * neg_log_sigmoid(-beta * h))
        else:
            losses.append((h - 1 / (2 * beta)) ** 2)
        accurate.append(float(h > 0))
        chosen_rewards.append(beta * chosen_ratio)
        rejected_rewards.append(beta * rejected_ratio)
    aux = {
        "accuracy": weighted_mean(accurate, weights),
        "chosen_reward": weighted_mean(chosen_rewards, weights),
        "rejected_reward": weighted_mean(rejected_rewards, weights),
        "reward_margin": weighted_mean([c - r for c, r in zip(chosen_rewards, rejected_rewards)], weights),
    }
    return weighted_mean(losses, weights), aux


def assert_matches(loss, aux, expected_loss, expected_aux):
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-5, atol=1e-7)
    assert set(aux) == set(expected_aux)
    for name, value in expected_aux.items():
        np.testing.assert_allclose(aux[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("beta", [0.1, 0.5])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weights", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_dpo_loss_and_aux(logps, beta, smoothing, weights):
    loss, aux = dpo_loss(*logps, beta, label_smoothing=smoothing, weights=weights)
    expected_loss, expected_aux = numpy_dpo(*logps, beta, smoothing, weights)
    assert_matches(loss, aux, expected_loss, expected_aux)
    assert 0.0 < expected_aux["accuracy"] < 1.0


@pytest.mark.parametrize("beta", [0.1, 0.5])
@pytest.mark.parametrize("weights", [None, WEIGHTS], ids=["unweighted", "weighted"])
def test_ipo_loss_and_aux(logps, beta, weights):
    loss, aux = ipo_loss(*logps, beta, weights=weights)
    expected_loss, expected_aux = numpy_dpo(*logps, beta, 0.0, weights, kind="ipo")
    assert_matches(loss, aux, expected_loss, expected_aux)


def test_dpo_gradient_raises_chosen_and_lowers_rejected_and_leaves_the_reference(logps):
    beta, smoothing = 0.5, 0.1
    grads = jax.grad(lambda *x: dpo_loss(*x, beta, smoothing)[0], argnums=(0, 1, 2, 3))(*logps)
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = logps
    for i in range(B):
        h = (float(policy_chosen[i]) - float(ref_chosen[i])) - (float(policy_rejected[i]) - float(ref_rejected[i]))
        # d/dh of −(1−ε) log σ(βh) − ε log σ(−βh) = −β((1−ε) σ(−βh) − ε σ(βh))
        d_h = -beta * ((1 - smoothing) * sigmoid(-beta * h) - smoothing * sigmoid(beta * h)) / B
        np.testing.assert_allclose(grads[0][i], d_h, rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(grads[1][i], -d_h, rtol=1e-4, atol=1e-8)
    np.testing.assert_array_equal(grads[2], 0.0)
    np.testing.assert_array_equal(grads[3], 0.0)
    plain = jax.grad(lambda *x: dpo_loss(*x, beta)[0], argnums=(0, 1))(*logps)
    assert np.all(plain[0] < 0) and np.all(plain[1] > 0)  # descent raises log π(y_c), lowers log π(y_r)


def test_cdpo_and_ipo_stop_pushing_at_their_targets():
    beta, smoothing = 1.0, 0.1
    zero = jnp.zeros(3)
    # cDPO's optimum: σ(βh) = 1 − ε. Past it the gradient pushes h back down; before it, up.
    h_star = math.log((1 - smoothing) / smoothing) / beta
    margins = jnp.array([h_star - 1.0, h_star, h_star + 1.0])
    grad = jax.grad(lambda c: dpo_loss(c, zero, zero, zero, beta, smoothing)[0])(margins)
    assert grad[0] < 0 and abs(grad[1]) < 1e-6 and grad[2] > 0
    # Plain DPO pushes every margin further, however large.
    assert np.all(jax.grad(lambda c: dpo_loss(c, zero, zero, zero, beta)[0])(margins) < 0)
    # IPO's target is h = 1/(2β), where the loss and its gradient vanish.
    target = jnp.full(3, 1 / (2 * beta))
    loss, _ = ipo_loss(target, zero, zero, zero, beta)
    assert float(loss) == pytest.approx(0.0, abs=1e-12)


def test_dpo_is_bradley_terry_on_the_implicit_rewards(logps):
    beta = 0.3
    policy_chosen, policy_rejected, ref_chosen, ref_rejected = logps
    bt, bt_aux = bradley_terry_loss(beta * (policy_chosen - ref_chosen), beta * (policy_rejected - ref_rejected),
                                    weights=WEIGHTS)
    dpo, dpo_aux = dpo_loss(*logps, beta, weights=WEIGHTS)
    np.testing.assert_allclose(dpo, bt, rtol=1e-5)
    for name in bt_aux:
        np.testing.assert_allclose(dpo_aux[name], bt_aux[name], rtol=1e-5, atol=1e-7)


def test_losses_vmap_and_jit_over_beta(logps):
    betas = jnp.array([0.1, 0.5, 2.0])
    vmapped = jax.jit(jax.vmap(lambda beta: (dpo_loss(*logps, beta, 0.1)[0], ipo_loss(*logps, beta)[0])))(betas)
    for k, beta in enumerate([0.1, 0.5, 2.0]):
        np.testing.assert_allclose(vmapped[0][k], numpy_dpo(*logps, beta, 0.1, None)[0], rtol=1e-5)
        np.testing.assert_allclose(vmapped[1][k], numpy_dpo(*logps, beta, 0.0, None, kind="ipo")[0], rtol=1e-5)


def test_sequence_log_prob_sums_or_averages_the_completion_tokens():
    rng = np.random.default_rng(2)
    token_log_probs = rng.normal(-1.0, 0.5, (3, 5)).astype(np.float32)
    lengths = [5, 2, 0]
    mask = np.array([[t < length for t in range(5)] for length in lengths])
    token_log_probs[1, 3] = np.nan  # padding may hold anything
    token_log_probs[2, 0] = -np.inf
    total = sequence_log_prob(token_log_probs, mask)
    mean = sequence_log_prob(token_log_probs, mask, average=True)
    for b, length in enumerate(lengths):
        expected = sum(float(token_log_probs[b, t]) for t in range(length))
        np.testing.assert_allclose(total[b], expected, rtol=1e-6)
        np.testing.assert_allclose(mean[b], expected / length if length else 0.0, rtol=1e-6)
    grad = jax.grad(lambda lp: sequence_log_prob(lp, mask).sum())(jnp.asarray(token_log_probs))
    np.testing.assert_array_equal(grad, mask.astype(np.float32))
    np.testing.assert_allclose(sequence_log_prob(token_log_probs[:1]), token_log_probs[0].sum(keepdims=True), rtol=1e-6)


def test_docstring_names_the_paper_not_the_discovered_algorithm():
    doc = " ".join(dpo_loss.__doc__.split())
    assert "Direct Preference Optimisation (Rafailov et al., 2023), not PureJaxRL's discovered policy optimisation" in doc


@pytest.mark.parametrize("beta", [0.0, -1.0, np.array([0.5, 0.0])])
def test_beta_must_be_positive(logps, beta):
    for loss in (dpo_loss, ipo_loss):
        with pytest.raises(ValueError, match="^beta: must be > 0"):
            loss(*logps, beta)


@pytest.mark.parametrize("smoothing", [-0.1, 0.5, 0.7])
def test_label_smoothing_must_be_in_zero_to_half(logps, smoothing):
    with pytest.raises(ValueError, match=r"^label_smoothing: must be in \[0.0, 0.5\)"):
        dpo_loss(*logps, 0.1, label_smoothing=smoothing)


def test_center_coef_must_not_be_negative(rewards):
    with pytest.raises(ValueError, match="^center_coef"):
        bradley_terry_loss(*rewards, center_coef=-0.1)


@pytest.mark.parametrize("position", [1, 2, 3])
def test_mismatched_log_probs_name_the_argument(logps, position):
    names = ["policy_chosen_logps", "policy_rejected_logps", "ref_chosen_logps", "ref_rejected_logps"]
    arguments = list(logps)
    arguments[position] = arguments[position][:-1]
    for loss in (dpo_loss, ipo_loss):
        with pytest.raises(ValueError, match=f"^{names[position]}: must have the shape of policy_chosen_logps"):
            loss(*arguments, 0.1)
    with pytest.raises(ValueError, match="^weights: must have the shape"):
        dpo_loss(*logps, 0.1, weights=WEIGHTS[:-1])


def test_mismatched_rewards_name_the_argument(rewards):
    chosen, rejected = rewards
    with pytest.raises(ValueError, match="^rejected_rewards: must have the shape of chosen_rewards"):
        bradley_terry_loss(chosen, rejected[:-1])
    with pytest.raises(ValueError, match="^margin: must have the shape"):
        bradley_terry_loss(chosen, rejected, margin=np.zeros(B - 1))
    with pytest.raises(ValueError, match="^weights: must have the shape"):
        bradley_terry_loss(chosen, rejected, weights=np.ones((B, 1)))
    with pytest.raises(ValueError, match="^mask: must have the shape of token_log_probs"):
        sequence_log_prob(np.zeros((2, 3)), np.ones((2, 4)))
