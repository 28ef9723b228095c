"""Statistical tests and intervals that compare classifiers and runs."""

import numpy as np
from scipy.stats import binomtest, norm, t

from fmnist_lib.validation import check_scalar


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


def prediction_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Interval that holds one new draw with probability `level`: mean +/- t * sd * sqrt(1 + 1/n).

    Assumes the values and the new draw are independent draws of one normal distribution.
    """
    values = _sample(values, "values", minimum=2)
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    n = len(values)
    half = t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) * np.sqrt(1 + 1 / n)
    return float(values.mean() - half), float(values.mean() + half)


def mean_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student's t interval for the mean of the distribution `values` were drawn from:
    mean +/- t * sd / sqrt(n). Assumes independent draws of one normal distribution."""
    values = _sample(values, "values", minimum=2)
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    n = len(values)
    half = t.ppf(0.5 + level / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return float(values.mean() - half), float(values.mean() + half)


def range_coverage(n: int) -> float:
    """Chance that one more draw of a continuous distribution falls inside the range of `n`."""
    n = check_scalar(n, "n", int, min_val=2)
    return (n - 1) / (n + 1)


def welch_interval(a: np.ndarray, b: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """Welch's interval for mean(a) - mean(b), unequal variances, Welch-Satterthwaite d.o.f."""
    a, b = _sample(a, "a", minimum=2), _sample(b, "b", minimum=2)
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else np.inf
    difference = a.mean() - b.mean()
    half = t.ppf(0.5 + level / 2, dof) * se
    p_value = 2 * t.sf(abs(difference) / se, dof) if se > 0 else float(difference == 0)
    return {
        "difference": float(difference),
        "low": float(difference - half),
        "high": float(difference + half),
        "dof": float(dof),
        "p_value": float(p_value),  # two-sided, of Welch's t-test of no difference
    }


def seeds_needed(
    sd_a: float, sd_b: float, difference: float, level: float = 0.95, most: int = 1000
) -> int | None:
    """The fewest seeds per arm for which Welch's interval (`welch_interval`: t with the
    Welch-Satterthwaite degrees of freedom, equal arms of n) around `difference` excludes zero,
    were the sds as given; None if no n up to `most` does, or the inputs leave it undefined."""
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    va, vb = float(sd_a) ** 2, float(sd_b) ** 2
    if not np.isfinite(va + vb + difference) or difference == 0 or va + vb == 0:
        return None
    for n in range(2, most + 1):
        dof = (va + vb) ** 2 / ((va**2 + vb**2) / (n - 1))  # the n's cancel from the ratio
        if t.ppf(0.5 + level / 2, dof) * np.sqrt((va + vb) / n) < abs(difference):
            return n
    return None


def seed_and_image_bootstrap(
    correct_a: np.ndarray,
    correct_b: np.ndarray,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile bootstrap interval for mean accuracy A minus B that varies both the seeds and
    the test images: each replicate draws the seeds (rows; seed i of A stays paired with seed i of
    B) and the test images (columns, the same draw for both arms) with replacement.

    `correct_a` and `correct_b` are (seeds, images) arrays of 1 (right) and 0 (wrong). Resampling
    both ways at once counts each source of variation (and their interaction) somewhat more than
    once, so the interval errs wide (Owen 2007).
    """
    a, b = np.asarray(correct_a, dtype=float), np.asarray(correct_b, dtype=float)
    if a.ndim != 2 or a.shape != b.shape or min(a.shape) < 2:
        raise ValueError(
            f"correct_a and correct_b must be (seeds, images) arrays of one shape with at least "
            f"2 of each, got {a.shape} and {b.shape}"
        )
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    n_boot = check_scalar(n_boot, "n_boot", int, min_val=100)
    difference = a - b
    n_seeds, n_images = difference.shape
    rng = np.random.default_rng(seed)
    replicates = np.empty(n_boot)
    for k in range(n_boot):
        seeds = np.bincount(rng.integers(0, n_seeds, n_seeds), minlength=n_seeds)
        images = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images)
        replicates[k] = seeds @ difference @ images / (n_seeds * n_images)
    low, high = np.quantile(replicates, [0.5 - level / 2, 0.5 + level / 2])
    return {"difference": float(difference.mean()), "low": float(low), "high": float(high)}


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for a proportion: `successes` right out of `n` (Wilson 1927)."""
    n = check_scalar(n, "n", int, min_val=1)
    successes = check_scalar(successes, "successes", int, min_val=0, max_val=n)
    level = check_scalar(
        level, "level", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    z = norm.ppf(0.5 + level / 2)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return float(centre - half), float(centre + half)


def _sample(values: np.ndarray, name: str, minimum: int) -> np.ndarray:
    """`values` as a finite 1-d float array of at least `minimum` entries, or a ValueError."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or len(array) < minimum or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a 1-d array of at least {minimum} finite numbers")
    return array


def compare_settings(chosen: np.ndarray, other: np.ndarray, level: float = 0.95) -> dict:
    """Whether runs of a `chosen` setting beat runs of an `other` one: means, sds, the Welch
    interval of the difference and a verdict.

    The verdict is "holds" when the interval lies above zero, "reversed" when below, "not shown"
    when it contains zero, and "undefined" with fewer than two runs of either setting.
    """
    chosen, other = (np.asarray(v, dtype=np.float64) for v in (chosen, other))
    summary = {
        "chosen_mean": float(chosen.mean()),
        "chosen_sd": float(chosen.std(ddof=1)) if len(chosen) > 1 else np.nan,
        "other_mean": float(other.mean()),
        "other_sd": float(other.std(ddof=1)) if len(other) > 1 else np.nan,
    }
    if min(len(chosen), len(other)) < 2:
        return {
            **summary,
            "difference": summary["chosen_mean"] - summary["other_mean"],
            "low": np.nan,
            "high": np.nan,
            "p_value": np.nan,
            "verdict": "undefined",
        }
    welch = welch_interval(chosen, other, level)
    verdict = "holds" if welch["low"] > 0 else "reversed" if welch["high"] < 0 else "not shown"
    return {
        **summary,
        "difference": welch["difference"],
        "low": welch["low"],
        "high": welch["high"],
        "p_value": welch["p_value"],
        "verdict": verdict,
    }


def holm(p_values: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """Holm's step-down rule for a family of tests: which nulls to reject so that the chance of
    rejecting any true one stays at most `alpha`. NaN p-values (undefined tests) are not
    rejected and do not count in the family."""
    p = np.asarray(p_values, dtype=np.float64)
    alpha = check_scalar(
        alpha, "alpha", float, min_val=0.0, max_val=1.0, include_boundaries="neither"
    )
    rejected = np.zeros(p.shape, dtype=bool)
    defined = np.flatnonzero(~np.isnan(p))
    for rank, index in enumerate(defined[np.argsort(p[defined], kind="stable")]):
        if p[index] > alpha / (len(defined) - rank):
            break
        rejected[index] = True
    return rejected


def holm_verdicts(
    verdicts: list[str], p_values: np.ndarray, alpha: float = 0.05
) -> list[str]:
    """`compare_settings` verdicts of a family of comparisons, under Holm's rule (`holm`): a
    "holds" or "reversed" stands only where Holm rejects its null, else it becomes "not shown";
    "undefined" stays."""
    if len(verdicts) != len(p_values):
        raise ValueError(f"{len(verdicts)} verdicts but {len(p_values)} p-values")
    rejected = holm(p_values, alpha)
    return [
        verdict if verdict == "undefined" or keep else "not shown"
        for verdict, keep in zip(verdicts, rejected, strict=True)
    ]


def overfitting_test(
    losses: np.ndarray, alpha: float = 0.05, n_boot: int = 2000, seed: int = 0
) -> dict[str, float | int | bool]:
    """Whether the last epoch's mean loss rises above the lowest epoch's by more than chance.

    `losses` (epochs, images) holds each validation image's cross-entropy after every epoch. The
    statistic is the rise, last epoch minus the lowest epoch, in mean loss. Its null distribution
    is bootstrapped over images, centred on the observed epoch means, with the lowest epoch found
    again inside every resample. That is the least favourable null, a flat history, so the test
    says "over-fits" with probability at most `alpha` whenever the last epoch is truly the best.
    """
    losses = np.asarray(losses, dtype=np.float64)
    if losses.ndim != 2 or losses.shape[0] < 1 or losses.shape[1] < 2:
        raise ValueError(f"losses must be (epochs, images) with 2 images or more: {losses.shape}")
    if not np.all(np.isfinite(losses)):
        raise ValueError("losses must be finite")
    alpha = check_scalar(alpha, "alpha", float, min_val=0, max_val=1, include_boundaries="neither")
    n_boot = check_scalar(n_boot, "n_boot", int, min_val=100)
    means = losses.mean(axis=1)
    rise = float(means[-1] - means.min())
    n_images = losses.shape[1]
    weights = np.random.default_rng(seed).multinomial(
        n_images, np.full(n_images, 1 / n_images), size=n_boot
    )
    centred = weights @ losses.T / n_images - means  # (n_boot, epochs) resampled minus observed
    null_rises = centred[:, -1] - centred.min(axis=1)
    threshold = float(np.quantile(null_rises, 1 - alpha))
    return {
        "min_epoch": int(means.argmin()) + 1,
        "epochs_after_min": len(means) - 1 - int(means.argmin()),
        "rise": rise,
        "threshold": threshold,
        "p_value": float((1 + np.sum(null_rises >= rise)) / (1 + n_boot)),
        "overfits": rise > threshold,
    }


BAND_VERDICTS = ("holds", "fails", "not settled")


def band_verdict(low: float, high: float, band_low: float, band_high: float) -> str:
    """Whether a claimed band holds the quantity an interval [low, high] estimates: "holds" when
    the interval lies inside the band, "fails" when it lies outside it, else "not settled"."""
    low, high, band_low, band_high = (float(v) for v in (low, high, band_low, band_high))
    if not low <= high or not band_low <= band_high:  # also refuses NaN
        raise ValueError(f"intervals must have low <= high, got [{low}, {high}] and "
                         f"[{band_low}, {band_high}]")
    if band_low <= low and high <= band_high:
        return "holds"
    if high < band_low or low > band_high:
        return "fails"
    return "not settled"


def paired_comparison(
    chosen: np.ndarray, other: np.ndarray, level: float = 0.95, power: float = 0.8
) -> dict:
    """Whether a `chosen` setting beats an `other` one when run i of each shares seed i: the mean
    paired difference, its t interval, the two-sided p-value, a verdict as `compare_settings`
    gives, and the smallest true difference the design detects with probability `power`.

    The detectable difference is (t_{1-a/2} + t_{power}) * sd_d / sqrt(n), with n - 1 degrees of
    freedom, a = 1 - level: the usual approximation for a paired t test.
    """
    chosen, other = (np.asarray(v, dtype=np.float64) for v in (chosen, other))
    if chosen.shape != other.shape or chosen.ndim != 1:
        raise ValueError(f"chosen and other must be paired 1-d arrays, got {chosen.shape} and "
                         f"{other.shape}")
    level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    power = check_scalar(power, "power", float, min_val=0, max_val=1, include_boundaries="neither")
    differences = chosen - other
    n = len(differences)
    summary = {"n_pairs": n, "difference": float(differences.mean()) if n else np.nan}
    if n < 2:
        return {**summary, "low": np.nan, "high": np.nan, "p_value": np.nan,
                "detectable": np.nan, "verdict": "undefined"}
    se = differences.std(ddof=1) / np.sqrt(n)
    critical = t.ppf(0.5 + level / 2, n - 1)
    mean = summary["difference"]
    p_value = float(2 * t.sf(abs(mean) / se, n - 1)) if se > 0 else float(mean == 0)
    low, high = mean - critical * se, mean + critical * se
    verdict = "holds" if low > 0 else "reversed" if high < 0 else "not shown"
    return {**summary, "low": float(low), "high": float(high), "p_value": p_value,
            "detectable": float((critical + t.ppf(power, n - 1)) * se), "verdict": verdict}


def pairs_needed(
    sd_difference: float,
    difference: float,
    level: float = 0.95,
    power: float = 0.8,
    max_n: int = 1000,
) -> int | None:
    """The fewest seed pairs whose paired t test detects a true `difference` with probability
    about `power`, when paired differences spread with `sd_difference` (`paired_comparison`'s
    rule); None when even `max_n` pairs would not, or when either number is undefined."""
    if not (np.isfinite(sd_difference) and np.isfinite(difference)) or difference == 0:
        return None
    for n in range(2, max_n + 1):
        critical = t.ppf(0.5 + level / 2, n - 1) + t.ppf(power, n - 1)
        if critical * sd_difference / np.sqrt(n) <= abs(difference):
            return n
    return None


def held_out_inside_counts(table: np.ndarray, level: float = 0.95) -> np.ndarray:
    """For each row (seed) of `table` (seeds, checks): how many of its values lie inside the
    `level` prediction intervals built from the other rows, column by column. The counts show
    how many of several correlated checks a run that truly is one more of ours passes."""
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 3:
        raise ValueError(f"table must be (seeds, checks) with 3 seeds or more, got {table.shape}")
    level = check_scalar(level, "level", float, min_val=0, max_val=1, include_boundaries="neither")
    n_others = table.shape[0] - 1
    factor = t.ppf(0.5 + level / 2, n_others - 1) * np.sqrt(1 + 1 / n_others)
    counts = []
    for held_out in range(table.shape[0]):  # eq. of `prediction_interval`, every column at once
        others = np.delete(table, held_out, axis=0)
        half = factor * others.std(axis=0, ddof=1)
        inside = np.abs(table[held_out] - others.mean(axis=0)) <= half
        counts.append(int(inside.sum()))
    return np.array(counts)


def against_control(
    arms: dict[str, np.ndarray], control: str, level: float = 0.95
) -> list[dict]:
    """Every arm but `control` against it, paired by seed (`paired_comparison`), with each
    verdict also under Holm's rule over the family of arms (`holm_verdicts`)."""
    if control not in arms:
        raise ValueError(f"the control {control!r} is not one of the arms {list(arms)}")
    rows = [
        {"arm": name, **paired_comparison(values, arms[control], level)}
        for name, values in arms.items()
        if name != control
    ]
    p_values = np.array([row["p_value"] for row in rows], dtype=float)
    for row, verdict in zip(
        rows, holm_verdicts([row["verdict"] for row in rows], p_values), strict=True
    ):
        row["verdict, Holm"] = verdict
    return rows
