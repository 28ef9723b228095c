"""Calibration of predicted class probabilities: reliability tables, ECE, Brier, temperature.

A classifier is calibrated when, among the examples it predicts with confidence p (the
probability of its top class), a fraction p is classified correctly. A reliability table bins
the examples by that confidence and sets each bin's mean confidence beside its accuracy; the
expected calibration error (ECE) is their mean absolute difference, weighted by the bins' counts
(Naeini et al. 2015; Guo et al. 2017). Temperature scaling (Guo et al. 2017) divides the logits by
one number T fitted on held-out data; it works here from probabilities, with log-probabilities
as the logits, since softmax ignores the constant that separates the two.

Bins are closed on the right: with equal-width bins, bin m of M holds the confidences in
((m - 1) / M, m / M], the first one 0 as well. Equal-mass bins sort the examples by confidence
and cut them into M runs of equal size (the example at sorted position j, from 0, goes to bin
floor(j M / n)), except that equal confidences always share the bin of the first of them, so
that the bins depend on the confidences alone, not on the order of the examples; a tie can make
a bin larger and leave a later one empty. A reliability table gives each bin's edges as `lower`
and `upper`: the fixed edges for equal-width bins, the smallest and largest confidence in it for
equal-mass bins; an empty bin has count 0 and NaN for the rest.
"""

import math
import os

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar

from fmnist_lib import evaluation, training
from fmnist_lib.validation import check_scalar

BINNINGS = ("width", "mass")  # equal-width and equal-mass (equal-count) bins of confidence
_SUM_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (float32 rounding)
_TINY = np.finfo(np.float64).tiny  # probabilities are clipped here before the logarithm


def _check_matrix(probabilities: object) -> np.ndarray:
    """`probabilities` (n, k) as float64 rows of numbers in [0, 1] that sum to 1, else raise."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] < 1 or p.shape[1] < 2:
        raise ValueError(f"probabilities must have shape (n, k) with n >= 1, k >= 2, got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1:
        raise ValueError("probabilities must be finite numbers in [0, 1]")
    worst = float(np.abs(p.sum(axis=1) - 1).max())
    if worst > _SUM_TOLERANCE:
        raise ValueError(f"probabilities must sum to 1 in every row, one row is off by {worst:.3g}")
    return p


def check_probabilities(probabilities: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """`probabilities` (n, k) checked as rows that sum to 1, and `labels` (n,) as ints in [0, k)."""
    p = _check_matrix(probabilities)
    y = np.asarray(labels)
    if y.shape != (len(p),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"labels must be {len(p)} integer class indices, one per row of probabilities, "
            f"got shape {y.shape} and dtype {y.dtype}"
        )
    if y.min() < 0 or y.max() >= p.shape[1]:
        raise ValueError(f"labels must lie in [0, {p.shape[1]}), got values {y.min()} to {y.max()}")
    return p, y.astype(np.int64)


def _check_binning(n_bins: object, binning: object, n: int) -> tuple[int, str]:
    """`n_bins` as an int >= 1 (at most `n` for equal-mass bins) and `binning`, both checked."""
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {BINNINGS}, got {binning!r}")
    top = n if binning == "mass" else None
    return check_scalar(n_bins, "n_bins", int, min_val=1, max_val=top), binning


def bin_indices(confidence: np.ndarray, n_bins: int, binning: str = "width") -> np.ndarray:
    """The bin (0 to n_bins - 1) of each confidence (n,) in [0, 1], equal-width or equal-mass."""
    confidence = np.asarray(confidence, dtype=np.float64)
    if confidence.ndim != 1 or not np.all((confidence >= 0) & (confidence <= 1)):
        raise ValueError(
            f"confidence must be a 1-d array of numbers in [0, 1], got shape {confidence.shape}"
        )
    n_bins, binning = _check_binning(n_bins, binning, len(confidence))
    if binning == "width":
        inner_edges = np.arange(1, n_bins) / n_bins
        return np.searchsorted(inner_edges, confidence, side="left")
    order = np.argsort(confidence, kind="stable")
    ranked = confidence[order]
    first_equal = np.searchsorted(ranked, ranked, side="left")  # ties take their first position
    bins = np.empty(len(confidence), dtype=np.int64)
    bins[order] = first_equal * n_bins // len(confidence)
    return bins


def reliability_table(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, binning: str = "width"
) -> pd.DataFrame:
    """One row per bin of top-class confidence: lower, upper, count, confidence, accuracy."""
    p, y = check_probabilities(probabilities, labels)
    n_bins, binning = _check_binning(n_bins, binning, len(p))
    confidence, correct = p.max(axis=1), p.argmax(axis=1) == y
    bins = bin_indices(confidence, n_bins, binning)
    count = np.bincount(bins, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(bins, confidence, n_bins) / count
        accuracy = np.bincount(bins, correct, n_bins) / count
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
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15, binning: str = "width"
) -> float:
    """ECE: the sum over bins of (count / n) * |accuracy - mean confidence|; empty bins add 0."""
    table = reliability_table(probabilities, labels, n_bins, binning)
    filled = table[table["count"] > 0]
    weights = filled["count"] / table["count"].sum()
    return float((weights * (filled["accuracy"] - filled["confidence"]).abs()).sum())


def brier_score(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over examples of sum over classes of (p - one-hot)^2."""
    p, y = check_probabilities(probabilities, labels)
    one_hot = np.zeros_like(p)
    one_hot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - one_hot) ** 2, axis=1)))


def calibration_scores(
    probabilities: np.ndarray, labels: np.ndarray, n_bins: int = 15
) -> dict[str, float]:
    """Accuracy, ECE with equal-width and equal-mass bins, NLL and Brier score, by name."""
    p, y = check_probabilities(probabilities, labels)
    return {
        "accuracy": float(np.mean(p.argmax(axis=1) == y)),
        "ece_width": expected_calibration_error(p, y, n_bins, "width"),
        "ece_mass": expected_calibration_error(p, y, n_bins, "mass"),
        "nll": evaluation.cross_entropy(p, y),
        "brier": brier_score(p, y),
    }


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log p / T) for every row of `probabilities` (n, k); the same as softmax(z / T)."""
    temperature = check_scalar(
        temperature, "temperature", float, min_val=0, include_boundaries="neither"
    )
    p = _check_matrix(probabilities)
    scaled = np.log(np.clip(p, _TINY, 1.0)) / temperature
    e = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(
    probabilities: np.ndarray, labels: np.ndarray, bounds: tuple[float, float] = (0.05, 20.0)
) -> float:
    """The temperature in `bounds` minimising the NLL of `apply_temperature` on these labels."""
    # The NLL is convex in 1 / T, so it has one minimum, which a bounded search over log T
    # finds; a result at a bound means that the best temperature lies beyond it.
    p, y = check_probabilities(probabilities, labels)
    low = check_scalar(bounds[0], "bounds[0]", float, min_val=0, include_boundaries="neither")
    high = check_scalar(bounds[1], "bounds[1]", float, min_val=low, include_boundaries="neither")

    def nll(log_t: float) -> float:
        return evaluation.cross_entropy(apply_temperature(p, math.exp(log_t)), y)

    found = minimize_scalar(
        nll, bounds=(math.log(low), math.log(high)), method="bounded", options={"xatol": 1e-7}
    )
    return float(math.exp(found.x))


def validation_probabilities(
    result: training.RunResult, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A finished run's final-model probabilities (n, k) on the validation split, and its labels."""
    model = training.load_model(result)
    data = training.prepare_data(result.config, tuple(model.input_shape[1:]), data_dir)
    x_val, y_val = data["val"]
    return evaluation.predict_probabilities(model, x_val), y_val
