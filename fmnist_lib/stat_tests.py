"""Statistical tests that compare classifiers."""

import numpy as np
from scipy.stats import binomtest


def mcnemar(y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray) -> dict[str, float]:
    """McNemar's exact test of two classifiers on the same examples (two-sided binomial)."""
    y_true, pred_a, pred_b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not y_true.shape == pred_a.shape == pred_b.shape or y_true.ndim != 1:
        raise ValueError("y_true, pred_a and pred_b must be 1-d arrays of the same length")
    right_a, right_b = pred_a == y_true, pred_b == y_true
    only_a = int(np.sum(right_a & ~right_b))
    only_b = int(np.sum(~right_a & right_b))
    discordant = only_a + only_b
    p_value = binomtest(only_a, discordant, 0.5).pvalue if discordant else 1.0
    return {"only_a_right": only_a, "only_b_right": only_b, "p_value": float(p_value)}
