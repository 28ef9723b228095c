"""Calibration of a classifier's log-probabilities: reliability tables, the ECE and its bias, a
debiased squared calibration error, NLL, Brier score, temperature scaling, and bootstrap
intervals of what temperature scaling changes.

A classifier is calibrated when, among the examples it predicts with confidence p (the
probability of its top class), a fraction p is classified correctly. A reliability table bins
the examples by that confidence and sets each bin's mean confidence beside its accuracy; the
expected calibration error (ECE) is their mean absolute difference, weighted by the bins' counts
(Naeini et al. 2015; Guo et al. 2017). Temperature scaling (Guo et al. 2017) divides the logits by
one number T fitted on held-out data.

Every function takes log-probabilities, (n, k) float64 rows whose exponentials sum to 1, as
`predict_log_probabilities` computes them from the scores that a network's softmax takes. A
float32 softmax rounds the true-class probability of a confident mistake to 0 and a confident
answer's top probability to 1; its logarithm computed from the scores stays finite and keeps
them apart. Softmax ignores a constant added to a row, so log-probabilities serve as logits.

Bins are closed on the right: with equal-width bins, bin m of M holds the confidences in
((m - 1) / M, m / M], the first one 0 as well. Equal-mass bins rank the examples by the top
class's log-odds log(p / (1 - p)), which orders them as the confidence does but stays finite and
distinct where confidences round to 1, and cut them into M runs of equal size (the example at
rank j, from 0, goes to bin floor(j M / n)), except that equal log-odds always share the bin of
the first of them, so that the bins do not depend on the order of the examples; a tie can make a
bin larger and leave a later one empty. A reliability table gives each bin's edges as `lower`
and `upper`: the fixed edges for equal-width bins, the smallest and largest confidence in it for
equal-mass bins; an empty bin has count 0 and NaN for the rest.

Noise in the bins biases the ECE upwards: a bin's accuracy is a mean of n_m right-or-wrong
answers, and the absolute value turns its noise into a positive gap even where the true gap is
0. `ece_bias` is the ECE that a calibrated classifier with the same confidences shows on
average (each example right with probability its confidence): how far above 0 the ECE of a
calibrated network lies. For a classifier that is not calibrated the bias is smaller where the
gaps are large against the noise, so the ECE's bias lies between 0 and about `ece_bias`; no
estimator of an absolute gap is unbiased. Squared gaps allow an exact correction:
`squared_calibration_error` is the sum over bins of (n_m / n) (gap_m^2 - s_m^2 / n_m), with s_m^2
the sample variance of the bin's right-minus-confidence values, an unbiased estimate of the
bins' mean squared true gap (Kumar et al. 2019 debias the squared error in this way).
"""

import os
from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import logsumexp, softmax

from fmnist_lib import evaluation, training
from fmnist_lib.validation import check_scalar

BINNINGS = ("width", "mass")  # equal-width and equal-mass (equal-count) bins of confidence
# The scores that `bootstrap_score_differences` compares, named as in `calibration_scores`.
SCORES = ("ece_width", "ece_mass", "sce_width", "sce_mass", "nll", "brier")
N_DRAWS = 100  # draws of a calibrated classifier that estimate an ECE's bias (`ece_bias`)
_NORM_TOLERANCE = 1e-3  # how far a row's log-sum-exp may lie from 0 (float32 inputs)


def _check_matrix(log_probabilities: object) -> np.ndarray:
    """`log_probabilities` (n, k) as float64 finite rows whose exponentials sum to 1, else raise."""
    z = np.asarray(log_probabilities, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 2:
        raise ValueError(
            f"log_probabilities must have shape (n, k) with n >= 1, k >= 2, got {z.shape}"
        )
    if not np.all(np.isfinite(z)):
        raise ValueError("log_probabilities must be finite (log-softmax of finite scores)")
    worst = float(np.abs(logsumexp(z, axis=1)).max())
    if worst > _NORM_TOLERANCE:
        raise ValueError(
            f"log_probabilities must be normalised, log-sum-exp 0 in every row, one row has "
            f"{worst:.3g} (probabilities rather than their logarithms?)"
        )
    return z


def check_log_probabilities(
    log_probabilities: object, labels: object
) -> tuple[np.ndarray, np.ndarray]:
    """`log_probabilities` (n, k) checked as normalised rows, `labels` (n,) as ints in [0, k)."""
    z = _check_matrix(log_probabilities)
    y = np.asarray(labels)
    if y.shape != (len(z),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"labels must be {len(z)} integer class indices, one per row of log_probabilities, "
            f"got shape {y.shape} and dtype {y.dtype}"
        )
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got values {y.min()} to {y.max()}")
    return z, y.astype(np.int64)


def predict_log_probabilities(
    model: keras.Model, x: np.ndarray, batch_size: int = evaluation.EVALUATION_BATCH
) -> np.ndarray:
    """log softmax (n, k) in float64 of the scores that `model`'s final softmax takes, for `x`.

    The model must end in a softmax: a Dense layer with softmax activation, whose kernel and
    bias are applied here in float64 to the features that reach it, or a softmax layer of its
    own. exp of the result is `model.predict` up to float32 rounding, but nothing underflows.
    """
    last = model.layers[-1]
    if last.get_config().get("activation") != "softmax" and not isinstance(
        last, keras.layers.Softmax
    ):
        raise ValueError(f"model must end in a softmax, its last layer is {last.name!r}")
    scores = keras.Model(inputs=model.inputs, outputs=last.input)
    z = np.asarray(scores.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
    if isinstance(last, keras.layers.Dense):
        z = z @ np.asarray(last.kernel, dtype=np.float64)
        z = z + np.asarray(last.bias, dtype=np.float64) if last.use_bias else z
    return z - logsumexp(z, axis=1, keepdims=True)


def run_log_probabilities(
    result: training.RunResult, data_dir: str | os.PathLike | None = None
) -> dict[str, np.ndarray]:
    """A finished run's final-model log-probabilities on its validation ("val") and test splits.

    The rows follow `data.split_validation`'s validation images and the test set, in order.
    """
    model = training.load_model(result)
    data = training.prepare_data(result.config, tuple(model.input_shape[1:]), data_dir)
    return {split: predict_log_probabilities(model, data[split][0]) for split in ("val", "test")}


def top_class(log_probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's predicted class, its confidence p and its log-odds log(p / (1 - p)), all (n,)."""
    z = _check_matrix(log_probabilities)
    rows, predicted = np.arange(len(z)), z.argmax(axis=1)
    others = z.copy()
    others[rows, predicted] = -np.inf  # log(1 - p) is the log-sum-exp of the other classes
    top = z[rows, predicted]
    return predicted, np.exp(top), top - logsumexp(others, axis=1)


def _check_binning(n_bins: object, binning: object, n: int) -> tuple[int, str]:
    """`n_bins` as an int >= 1 (at most `n` for equal-mass bins) and `binning`, both checked."""
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    top = n if binning == "mass" else None
    return check_scalar(n_bins, "n_bins", int, min_val=1, max_val=top), binning


def bin_indices(
    confidence: np.ndarray, log_odds: np.ndarray, n_bins: int, binning: str = "width"
) -> np.ndarray:
    """The bin (0 to n_bins - 1) of each example (n,): equal-width bins of `confidence` in
    [0, 1], or equal-mass bins in the order of `log_odds`, a key that confidence ties don't tie."""
    confidence = np.asarray(confidence, dtype=np.float64)
    log_odds = np.asarray(log_odds, dtype=np.float64)
    if confidence.ndim != 1 or not np.all((confidence >= 0) & (confidence <= 1)):
        raise ValueError(
            f"confidence must be a 1-d array of numbers in [0, 1], got shape {confidence.shape}"
        )
    if log_odds.shape != confidence.shape or np.isnan(log_odds).any():
        raise ValueError(f"log_odds must be {len(confidence)} numbers, one per confidence")
    n_bins, binning = _check_binning(n_bins, binning, len(confidence))
    if binning == "width":
        inner_edges = np.arange(1, n_bins) / n_bins
        return np.searchsorted(inner_edges, confidence, side="left")
    order = np.argsort(log_odds, kind="stable")
    ranked = log_odds[order]
    first_equal = np.searchsorted(ranked, ranked, side="left")  # ties take their first position
    bins = np.empty(len(confidence), dtype=np.int64)
    bins[order] = first_equal * n_bins // len(confidence)
    return bins


def reliability_table(
    log_probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, binning: str = "width"
) -> pd.DataFrame:
    """One row per bin of top-class confidence: lower, upper, count, confidence, accuracy."""
    z, y = check_log_probabilities(log_probabilities, labels)
    n_bins, binning = _check_binning(n_bins, binning, len(z))
    predicted, confidence, log_odds = top_class(z)
    bins = bin_indices(confidence, log_odds, n_bins, binning)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, confidence, n_bins) / count
        accuracy = np.bincount(bins, predicted == y, n_bins) / count
    if binning == "width":
        lower, upper = np.arange(n_bins) / n_bins, np.arange(1, n_bins + 1) / n_bins
    else:
        grouped = pd.Series(confidence).groupby(bins)
        lower = grouped.min().reindex(range(n_bins)).to_numpy()
        upper = grouped.max().reindex(range(n_bins)).to_numpy()
    return pd.DataFrame(
        {
            "lower": lower,
            "upper": upper,
            "count": count,
            "confidence": mean_confidence,
            "accuracy": accuracy,
        },
        index=pd.RangeIndex(n_bins, name="bin"),
    )


def expected_calibration_error(
    log_probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, binning: str = "width"
) -> float:
    """ECE: the sum over bins of (count / n) * |accuracy - mean confidence|; empty bins add 0."""
    table = reliability_table(log_probabilities, labels, n_bins, binning)
    filled = table[table["count"] > 0]
    weights = filled["count"] / table["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def ece_bias(
    log_probabilities: np.ndarray,
    n_bins: int = 15,
    binning: str = "width",
    n_draws: int = N_DRAWS,
    seed: int = 0,
) -> float:
    """The mean ECE, over `n_draws` draws, of a calibrated classifier with these confidences.

    Each draw makes example i right with probability its confidence p_i, as a calibrated
    classifier would be, and bins it as `expected_calibration_error` does. The result is the
    bias that bin noise adds to the ECE of a calibrated classifier, up to the Monte Carlo error
    of `n_draws` draws (seeded by `seed`).
    """
    _, confidence, log_odds = top_class(log_probabilities)
    n_bins, binning = _check_binning(n_bins, binning, len(confidence))
    n_draws = check_scalar(n_draws, "n_draws", int, min_val=1)
    bins = bin_indices(confidence, log_odds, n_bins, binning)
    return _calibrated_ece(confidence, bins, n_bins, n_draws, seed)


def _calibrated_ece(
    confidence: np.ndarray, bins: np.ndarray, n_bins: int, n_draws: int, seed: int
) -> float:
    """The mean ECE with these `bins` of `n_draws` classifiers right with probability p_i."""
    uniforms = np.random.default_rng(seed).random((n_draws, len(confidence)))
    gaps = (uniforms < confidence) - confidence
    flat = (np.arange(n_draws)[:, None] * n_bins + bins).ravel()
    sums = np.bincount(flat, gaps.ravel(), n_draws * n_bins).reshape(n_draws, n_bins)
    return float(np.abs(sums).sum(axis=1).mean() / len(confidence))


def _binned_errors(
    bins: np.ndarray, gap: np.ndarray, counts: np.ndarray, n_bins: int
) -> tuple[float, float]:
    """ECE and debiased squared calibration error of examples in `bins` whose right (1 or 0) minus
    confidence is `gap`, example i counted `counts[i]` times (bins of one example add 0 to the
    latter)."""
    n_m = np.bincount(bins, counts, n_bins)
    sums = np.bincount(bins, counts * gap, n_bins)
    squares = np.bincount(bins, counts * gap**2, n_bins)
    big = n_m >= 2
    mean_square = sums[big] ** 2 / n_m[big]  # n_m times the squared mean gap
    variance = (squares[big] - mean_square) / (n_m[big] - 1)  # sample variance of the gaps
    n = counts.sum()
    return float(np.abs(sums).sum() / n), float((mean_square - variance).sum() / n)


def squared_calibration_error(
    log_probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, binning: str = "width"
) -> float:
    """Debiased squared calibration error: the sum over bins of (count / n) * (gap^2 - s^2 / count).

    gap is the bin's accuracy minus its mean confidence and s^2 the sample variance of its
    examples' right (1 or 0) minus confidence; gap^2 overstates the squared true gap by the
    variance of the bin's mean, which s^2 / count estimates without bias. The result is an
    unbiased estimate of the bins' weighted mean squared gap, so it can be negative; bins of
    fewer than 2 examples add 0.
    """
    z, y = check_log_probabilities(log_probabilities, labels)
    n_bins, binning = _check_binning(n_bins, binning, len(z))
    predicted, confidence, log_odds = top_class(z)
    bins = bin_indices(confidence, log_odds, n_bins, binning)
    gap = (predicted == y) - confidence
    return _binned_errors(bins, gap, np.ones(len(z)), n_bins)[1]


def negative_log_likelihood(log_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """NLL: the mean over examples of -log p[true class], from log-probabilities, unclipped."""
    z, y = check_log_probabilities(log_probabilities, labels)
    return float(-np.mean(z[np.arange(len(y)), y]))


def brier_score(log_probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over examples of sum over classes of (p - one-hot)^2."""
    z, y = check_log_probabilities(log_probabilities, labels)
    p = np.exp(z)
    p[np.arange(len(y)), y] -= 1.0
    return float(np.mean(np.sum(p**2, axis=1)))


def calibration_scores(
    log_probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, seed: int = 0
) -> dict[str, float]:
    """Accuracy; ECE and its `ece_bias` (seeded by `seed`) with equal-width and with equal-mass
    bins; the debiased squared calibration error with each; NLL and Brier score, by name."""
    z, y = check_log_probabilities(log_probabilities, labels)
    scores = {"accuracy": float(np.mean(z.argmax(axis=1) == y))}
    for binning in BINNINGS:
        scores[f"ece_{binning}"] = expected_calibration_error(z, y, n_bins, binning)
        scores[f"ece_{binning}_bias"] = ece_bias(z, n_bins, binning, seed=seed)
    for binning in BINNINGS:
        scores[f"sce_{binning}"] = squared_calibration_error(z, y, n_bins, binning)
    scores["nll"] = negative_log_likelihood(z, y)
    scores["brier"] = brier_score(z, y)
    return scores


def apply_temperature(log_probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """log softmax(z / T) (n, k) of log-probabilities z (n, k): the same as of the logits / T."""
    temperature = check_scalar(
        temperature, "temperature", float, min_val=0, include_boundaries="neither"
    )
    scaled = _check_matrix(log_probabilities) / temperature
    return scaled - logsumexp(scaled, axis=1, keepdims=True)


def fit_temperature(
    log_probabilities: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature T in `bounds` minimising the NLL of `apply_temperature` on these labels.

    With b = 1 / T the NLL is mean_i [logsumexp_k(b z_ik) - b z_iy], a log-sum-exp of linear
    functions of b less a linear one: convex in b. Its derivative, mean_i [E(z_i) - z_iy] with
    the expectation under softmax(b z_i), increases with b, so the minimum over
    [1 / bounds[1], 1 / bounds[0]] is where the derivative is 0, or the bound nearest to it.
    """
    z, y = check_log_probabilities(log_probabilities, labels)
    low = check_scalar(bounds[0], "bounds[0]", float, min_val=0, include_boundaries="neither")
    high = check_scalar(bounds[1], "bounds[1]", float, min_val=low, include_boundaries="neither")
    true_class = z[np.arange(len(y)), y]

    def slope(b: float) -> float:
        return float(np.mean(np.sum(softmax(b * z, axis=1) * z, axis=1) - true_class))

    if slope(1 / high) >= 0:
        return high
    if slope(1 / low) <= 0:
        return low
    return float(1 / brentq(slope, 1 / high, 1 / low, xtol=1e-14, rtol=1e-12))


def _stage_parts(log_probabilities: np.ndarray, labels: np.ndarray, n_bins: int) -> dict:
    """Per example: gap (right minus confidence), equal-width bin, rank and first rank of its
    log-odds' ties, NLL and Brier terms."""
    z, y = check_log_probabilities(log_probabilities, labels)
    predicted, confidence, log_odds = top_class(z)
    order = np.argsort(log_odds, kind="stable")
    p = np.exp(z)
    p[np.arange(len(y)), y] -= 1.0
    return {
        "gap": (predicted == y) - confidence,
        "width_bin": bin_indices(confidence, log_odds, n_bins, "width"),
        "order": order,
        "first_equal": np.searchsorted(log_odds[order], log_odds[order], side="left"),
        "nll": -z[np.arange(len(y)), y],
        "brier": np.sum(p**2, axis=1),
    }


def _stage_errors(parts: dict, counts: np.ndarray, n_bins: int) -> np.ndarray:
    """ECE, equal-width then equal-mass, and the squared calibration error likewise, of a
    resample that holds example i `counts[i]` times."""
    width = _binned_errors(parts["width_bin"], parts["gap"], counts, n_bins)
    ranked_counts = counts[parts["order"]]
    ranked_before = np.cumsum(ranked_counts) - ranked_counts  # copies ranked before each
    mass_bin = ranked_before[parts["first_equal"]] * n_bins // counts.sum()  # as `bin_indices`
    order = parts["order"]
    mass = _binned_errors(mass_bin, parts["gap"][order], ranked_counts, n_bins)
    return np.array([width[0], mass[0], width[1], mass[1]])


def bootstrap_score_differences(
    before: Sequence[np.ndarray],
    after: Sequence[np.ndarray],
    labels: np.ndarray,
    n_bins: int = 15,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Percentile bootstrap intervals over the examples for after-minus-before score changes.

    `before` and `after` hold one log-probability array (n, k) per run, all on the same
    examples with `labels`. The statistic, one per name in SCORES (as in `calibration_scores`),
    is the mean over the runs of each run's after minus before. Each of `n_boot` replicates
    draws the n examples with replacement (seeded by `seed`), the same draw for every run and
    for both stages (a paired bootstrap), so the intervals hold the networks fixed: they vary
    the examples only, not the seeds. Returns one row per score: difference (on all examples),
    lower and upper (the replicates' (1 - level) / 2 and (1 + level) / 2 quantiles).
    """
    if len(before) != len(after) or len(before) == 0:
        raise ValueError(
            f"before and after must hold as many runs, at least 1, got {len(before)} and "
            f"{len(after)}"
        )
    n_bins, _ = _check_binning(n_bins, "mass", len(labels))
    n_boot = check_scalar(n_boot, "n_boot", int, min_val=1)
    level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    pairs = [
        (_stage_parts(b, labels, n_bins), _stage_parts(a, labels, n_bins))
        for b, a in zip(before, after, strict=True)
    ]
    per_example = {
        name: np.mean([a[name] - b[name] for b, a in pairs], axis=0) for name in ("nll", "brier")
    }
    n, rng = len(labels), np.random.default_rng(seed)

    def differences(counts: np.ndarray) -> np.ndarray:
        binned = [
            _stage_errors(a, counts, n_bins) - _stage_errors(b, counts, n_bins) for b, a in pairs
        ]
        means = [counts @ per_example[name] / n for name in ("nll", "brier")]
        return np.concatenate([np.mean(binned, axis=0), means])

    replicates = np.array(
        [differences(np.bincount(rng.integers(0, n, n), minlength=n)) for _ in range(n_boot)]
    )
    lower, upper = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return pd.DataFrame(
        {"difference": differences(np.ones(n, dtype=np.int64)), "lower": lower, "upper": upper},
        index=pd.Index(SCORES, name="score"),
    )
