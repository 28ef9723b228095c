import numpy as np
import pytest
from scipy.stats import binomtest, ttest_ind

from fmnist_lib.stat_tests import (
    mcnemar,
    prediction_interval,
    range_coverage,
    welch_interval,
    wilson_interval,
)


def test_mcnemar_counts_discordant_pairs_and_gives_an_exact_p_value():
    y = np.zeros(20, dtype=int)
    a = np.zeros(20, dtype=int)  # always right
    b = np.array([1] * 6 + [0] * 14)  # wrong on the first six
    result = mcnemar(y, a, b)
    assert (result["only_a_right"], result["only_b_right"]) == (6, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5**6)  # two-sided exact binomial


def test_mcnemar_of_identical_predictions_is_not_significant():
    y = np.array([0, 1, 2])
    assert mcnemar(y, y, y)["p_value"] == 1.0
    with pytest.raises(ValueError, match="same length"):
        mcnemar(y, y, y[:2])


def test_prediction_interval_of_three_runs_is_mean_plus_minus_4_97_sd():
    values = np.array([0.90, 0.91, 0.92])  # mean 0.91, sd 0.01
    low, high = prediction_interval(values)
    # t(0.975, 2) * sqrt(1 + 1/3) = 4.303 * 1.1547 = 4.968
    assert (high - 0.91) / 0.01 == pytest.approx(4.968, abs=1e-3)
    assert 0.91 - low == pytest.approx(high - 0.91)


def test_prediction_interval_covers_new_normal_draws_at_its_level():
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(4000):
        draws = rng.normal(size=4)
        low, high = prediction_interval(draws[:3])
        hits += low <= draws[3] <= high
    assert hits / 4000 == pytest.approx(0.95, abs=0.015)


def test_prediction_interval_rejects_too_few_values_and_a_bad_level():
    with pytest.raises(ValueError, match="at least 2"):
        prediction_interval([0.9])
    with pytest.raises(ValueError, match="level"):
        prediction_interval([0.9, 0.8], level=1.0)


def test_range_coverage_is_n_minus_1_over_n_plus_1():
    assert range_coverage(3) == 0.5
    assert range_coverage(10) == pytest.approx(9 / 11)
    with pytest.raises(ValueError, match="n"):
        range_coverage(1)


def test_welch_interval_matches_scipy():
    a, b = np.array([1.0, 2.0, 3.0, 4.5]), np.array([2.0, 3.0, 5.0])
    ours = welch_interval(a, b)
    theirs = ttest_ind(a, b, equal_var=False)
    ci = theirs.confidence_interval(0.95)
    assert ours["difference"] == pytest.approx(a.mean() - b.mean())
    assert (ours["low"], ours["high"]) == pytest.approx((ci.low, ci.high))
    assert ours["dof"] == pytest.approx(theirs.df)


def test_wilson_interval_matches_scipy_and_stays_inside_0_1():
    low, high = wilson_interval(9000, 10_000)
    ci = binomtest(9000, 10_000).proportion_ci(method="wilson")
    assert (low, high) == pytest.approx((ci.low, ci.high))
    low, high = wilson_interval(0, 20)
    assert low == pytest.approx(0.0, abs=1e-12) and 0 < high < 0.2
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


def test_compare_settings_verdict_follows_the_welch_interval():
    from fmnist_lib.stat_tests import compare_settings

    better = compare_settings([0.91, 0.912, 0.911], [0.90, 0.901, 0.899])
    assert better["verdict"] == "holds" and better["low"] > 0
    assert better["chosen_mean"] == pytest.approx(0.911)
    assert better["difference"] == pytest.approx(0.011)
    worse = compare_settings([0.90, 0.901, 0.899], [0.91, 0.912, 0.911])
    assert worse["verdict"] == "reversed" and worse["high"] < 0
    noisy = compare_settings([0.90, 0.92, 0.91], [0.905, 0.915, 0.90])
    assert noisy["verdict"] == "not shown" and noisy["low"] < 0 < noisy["high"]
    single = compare_settings([0.91], [0.90])
    assert single["verdict"] == "undefined" and np.isnan(single["low"])
    assert single["difference"] == pytest.approx(0.01)
