import numpy as np
import pytest
from scipy.stats import binomtest, t, ttest_ind

from fmnist_lib.stat_tests import (
    mcnemar,
    overfitting_test,
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


def test_seeds_needed_is_the_first_n_whose_welch_interval_excludes_zero():
    from fmnist_lib.stat_tests import seeds_needed, welch_interval

    rng = np.random.default_rng(0)

    def exactly(size, sd, mean):
        """A sample of `size` with exactly this mean and sd."""
        x = rng.standard_normal(size)
        return (x - x.mean()) / x.std(ddof=1) * sd + mean

    for sd_a, sd_b, difference in ((0.4, 0.3, 0.5), (1.0, 1.0, 0.3), (0.2, 0.6, -0.25)):
        n = seeds_needed(sd_a, sd_b, difference)
        # Samples with exactly these means and sds give Welch's own interval at n and at n - 1.
        at_n, before = (
            welch_interval(exactly(size, sd_a, difference), exactly(size, sd_b, 0.0))
            for size in (n, n - 1)
        )
        assert at_n["low"] > 0 or at_n["high"] < 0
        assert before["low"] <= 0 <= before["high"]
    # By hand: equal sds of 1 and a difference of 1. n = 10 gives dof 18, t = 2.1009, half-width
    # 2.1009 * sqrt(2 / 10) = 0.9396 < 1; n = 9 gives dof 16, t = 2.1199, half-width 0.9994 < 1;
    # n = 8 gives dof 14, t = 2.1448, half-width 1.0724 > 1.
    assert seeds_needed(1.0, 1.0, 1.0) == 9
    # The normal approximation (1.96) would say 8: the t quantile needs one more.
    assert int(np.ceil(1.96**2 * 2 / 1.0)) == 8
    assert seeds_needed(0.0, 0.0, 1.0) is None and seeds_needed(1.0, 1.0, 0.0) is None
    assert seeds_needed(1.0, 1.0, float("nan")) is None
    assert seeds_needed(100.0, 100.0, 0.001, most=50) is None


def test_mean_interval_by_hand_and_its_coverage_in_simulation():
    from fmnist_lib.stat_tests import mean_interval

    # By hand: 1, 2, 3 have mean 2, sd 1; t(0.975, 2) = 4.302653; half-width 4.302653 / sqrt(3).
    low, high = mean_interval(np.array([1.0, 2.0, 3.0]))
    assert (low, high) == pytest.approx((2 - 2.484138, 2 + 2.484138), abs=1e-6)
    # 4,000 samples of 5 normal draws: about 95% of the intervals hold the true mean of 10.
    rng = np.random.default_rng(1)
    held = [low <= 10 <= high for low, high in map(mean_interval, rng.normal(10, 3, (4000, 5)))]
    assert np.mean(held) == pytest.approx(0.95, abs=0.01)


def simulated_correct(rng, n_seeds, n_images, gap, seed_sd=0.003, image_sd=1.5):
    """(seeds, images) 0/1 arrays of two arms whose true mean accuracies differ by about `gap`:
    each image has a difficulty shared by both arms, each run a skill of its own."""
    difficulty = rng.normal(0, image_sd, n_images)
    skill_a = 1.0 + gap * 8 + rng.normal(0, seed_sd * 8, (n_seeds, 1))
    skill_b = 1.0 + rng.normal(0, seed_sd * 8, (n_seeds, 1))
    p_a, p_b = (1 / (1 + np.exp(-(s - difficulty))) for s in (skill_a, skill_b))
    return (rng.random(p_a.shape) < p_a).astype(int), (rng.random(p_b.shape) < p_b).astype(int)


def test_seed_and_image_bootstrap_by_hand_and_against_the_seed_only_interval():
    from fmnist_lib.stat_tests import seed_and_image_bootstrap

    a = np.array([[1, 1, 0, 1], [1, 0, 0, 1]])
    b = np.array([[0, 1, 0, 1], [1, 0, 0, 0]])
    result = seed_and_image_bootstrap(a, b, n_boot=500)
    assert result["difference"] == pytest.approx((3 + 2 - 2 - 1) / 8)  # 0.25, by hand
    assert result["low"] <= result["difference"] <= result["high"]
    rng = np.random.default_rng(3)
    a, b = simulated_correct(rng, 10, 2000, gap=0.02)
    both = seed_and_image_bootstrap(a, b, n_boot=2000)
    # The same bootstrap over the seeds alone, on this one test set, by hand:
    per_seed = a.mean(1) - b.mean(1)
    draws = rng.integers(0, len(per_seed), (2000, len(per_seed)))
    seeds_only = np.quantile(per_seed[draws].mean(1), [0.025, 0.975])
    # The images add variation that the seed-to-seed spread on one fixed test set leaves out.
    assert both["high"] - both["low"] > 1.2 * (seeds_only[1] - seeds_only[0])
    assert both["low"] < per_seed.mean() < both["high"]
    with pytest.raises(ValueError, match="one shape"):
        seed_and_image_bootstrap(a, b[:, :10])


def test_seed_and_image_bootstrap_covers_the_true_difference_in_simulation():
    """Over new seeds and new test images drawn each time, the 95% interval holds the true
    difference of the two arms' mean accuracies at least about 95% of the time."""
    from fmnist_lib.stat_tests import seed_and_image_bootstrap

    rng = np.random.default_rng(11)
    truth_a, truth_b = simulated_correct(rng, 400, 20000, gap=0.02)
    truth = truth_a.mean() - truth_b.mean()  # the arms' difference over many seeds and images
    held = []
    for _ in range(120):
        a, b = simulated_correct(rng, 8, 400, gap=0.02)
        result = seed_and_image_bootstrap(a, b, n_boot=300, seed=int(rng.integers(1_000_000)))
        held.append(result["low"] <= truth <= result["high"])
    assert np.mean(held) >= 0.9


def test_welch_p_value_is_scipys():
    from scipy import stats

    from fmnist_lib.stat_tests import welch_interval

    a, b = np.array([0.88, 0.89, 0.885, 0.892]), np.array([0.90, 0.91, 0.905])
    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert welch_interval(a, b)["p_value"] == pytest.approx(expected, rel=1e-10)


def test_holm_by_hand_and_its_family_wise_error_in_simulation():
    from fmnist_lib.stat_tests import holm

    # By hand at 0.05: 0.005 <= 0.05/4, 0.01 <= 0.05/3, then 0.03 > 0.05/2 stops the steps.
    p = np.array([0.01, 0.04, 0.03, 0.005])
    assert holm(p).tolist() == [True, False, False, True]
    assert holm(np.array([0.01, np.nan, 0.02])).tolist() == [True, False, True]  # a family of 2
    assert not holm(np.array([0.2, 0.3])).any()
    # Four true nulls, uniform p-values: some rejection in at most about 5% of the families.
    rng = np.random.default_rng(5)
    families = rng.random((20_000, 4))
    any_rejected = np.mean([holm(family).any() for family in families])
    assert any_rejected <= 0.05 + 0.005


def test_holm_verdicts_keep_only_what_the_family_rule_rejects():
    from fmnist_lib.stat_tests import holm_verdicts

    verdicts = ["holds", "reversed", "holds", "undefined", "not shown"]
    p = np.array([0.001, 0.004, 0.03, np.nan, 0.6])
    # A family of 4: 0.001 <= 0.0125, 0.004 <= 0.0167, 0.03 > 0.025 stops.
    expected = ["holds", "reversed", "not shown", "undefined", "not shown"]
    assert holm_verdicts(verdicts, p) == expected
    with pytest.raises(ValueError, match="p-values"):
        holm_verdicts(verdicts, p[:2])


def _flat_losses(rng, epochs=6, images=200):
    """Per-image losses (epochs, images) whose epochs share one expected loss: no over-fitting."""
    return rng.gamma(0.5, 0.6, size=images) + rng.normal(0, 0.2, size=(epochs, images))


def test_overfitting_test_by_hand_on_a_rise_and_a_fall():
    rising = np.array([[0.5, 0.7], [0.3, 0.5], [0.4, 0.6]])  # means 0.6, 0.4, 0.5
    result = overfitting_test(rising, n_boot=200)
    assert result["rise"] == pytest.approx(0.1)
    assert (result["min_epoch"], result["epochs_after_min"]) == (2, 1)
    falling = overfitting_test(np.array([[0.7, 0.5], [0.6, 0.4], [0.5, 0.3]]), n_boot=200)
    assert falling["rise"] == 0 and not falling["overfits"] and falling["p_value"] == 1


def test_overfitting_test_says_overfits_at_its_stated_rate_on_flat_histories():
    rng = np.random.default_rng(0)
    rate = np.mean([
        overfitting_test(_flat_losses(rng), n_boot=200, seed=i)["overfits"] for i in range(400)
    ])
    # 5% expected; 400 draws give a binomial sd of 1.1 points: the band is about 3 sd wide.
    assert 0.02 <= rate <= 0.085


def test_overfitting_test_finds_a_clear_rise_and_rarely_a_falling_history():
    rng = np.random.default_rng(1)
    u_shape = 0.06 * ((np.arange(6) - 2) / 3) ** 2  # lowest at epoch 3, last epoch 0.06 higher
    found = [
        overfitting_test(_flat_losses(rng) + u_shape[:, None], n_boot=200, seed=i)["overfits"]
        for i in range(100)
    ]
    assert np.mean(found) >= 0.8
    falling = 0.2 * np.linspace(1, 0, 6)  # each epoch 0.04 below the one before
    false = [
        overfitting_test(_flat_losses(rng) + falling[:, None], n_boot=200, seed=i)["overfits"]
        for i in range(100)
    ]
    assert np.mean(false) <= 0.02


def test_overfitting_test_rejects_bad_input():
    with pytest.raises(ValueError, match="epochs, images"):
        overfitting_test(np.zeros(5))
    with pytest.raises(ValueError, match="finite"):
        overfitting_test(np.array([[0.1, np.nan], [0.2, 0.3]]))
    with pytest.raises(ValueError, match="alpha"):
        overfitting_test(np.ones((2, 3)), alpha=1.5)


def test_band_verdict_by_hand():
    from fmnist_lib.stat_tests import band_verdict

    assert band_verdict(1.6, 2.4, 1.5, 2.5) == "holds"
    assert band_verdict(2.6, 3.0, 1.5, 2.5) == "fails"
    assert band_verdict(0.2, 1.4, 1.5, 2.5) == "fails"
    assert band_verdict(1.2, 2.0, 1.5, 2.5) == "not settled"
    assert band_verdict(1.0, 3.0, 1.5, 2.5) == "not settled"
    assert band_verdict(0.5, 0.7, 0.0, np.inf) == "holds"
    with pytest.raises(ValueError, match="low <= high"):
        band_verdict(2.0, 1.0, 1.5, 2.5)


def test_paired_comparison_by_hand_and_against_scipy():
    from scipy.stats import ttest_rel

    from fmnist_lib.stat_tests import paired_comparison

    chosen = np.array([0.90, 0.91, 0.92, 0.905])
    other = np.array([0.89, 0.905, 0.91, 0.90])
    result = paired_comparison(chosen, other)
    d = chosen - other  # 0.010, 0.005, 0.010, 0.005: mean 0.0075, sd 0.0028868
    se = d.std(ddof=1) / 2
    assert result["difference"] == pytest.approx(0.0075)
    assert result["low"] == pytest.approx(0.0075 - 3.182446 * se, rel=1e-6)
    assert result["p_value"] == pytest.approx(ttest_rel(chosen, other).pvalue)
    assert result["detectable"] == pytest.approx((3.182446 + 0.978472) * se, rel=1e-5)
    assert result["verdict"] == "holds"
    assert paired_comparison(other, chosen)["verdict"] == "reversed"
    assert paired_comparison(chosen[:1], other[:1])["verdict"] == "undefined"
    with pytest.raises(ValueError, match="paired"):
        paired_comparison(chosen, other[:3])


def test_paired_comparison_detects_its_detectable_difference_about_as_often_as_promised():
    from fmnist_lib.stat_tests import paired_comparison

    rng = np.random.default_rng(0)
    n, sd = 10, 0.004
    seed_effect = rng.normal(0, 0.01, size=(2000, n))  # shared by both arms: pairing removes it
    null = rng.normal(0, sd, size=(2000, n))
    # At a true difference equal to the detectable one for the true sd, power is about 80%.
    true = (2.262157 + 0.883029) * sd / np.sqrt(n)  # t quantiles 0.975 and 0.8, 9 df
    found = [
        paired_comparison(seed_effect[i] + true + null[i], seed_effect[i])["verdict"] == "holds"
        for i in range(2000)
    ]
    assert 0.72 <= np.mean(found) <= 0.86
    false = [paired_comparison(seed_effect[i] + null[i], seed_effect[i])["verdict"] != "not shown"
             for i in range(2000)]
    assert 0.035 <= np.mean(false) <= 0.065


def test_pairs_needed_is_the_first_n_whose_detectable_difference_is_small_enough():
    from fmnist_lib.stat_tests import pairs_needed

    def detectable(n, sd):
        return (t.ppf(0.975, n - 1) + t.ppf(0.8, n - 1)) * sd / np.sqrt(n)

    n = pairs_needed(0.004, 0.004)
    assert detectable(n, 0.004) <= 0.004 < detectable(n - 1, 0.004)
    assert n == 10  # (2.262 + 0.883) / sqrt(10) = 0.995; at 9 pairs, (2.306 + 0.889) / 3 = 1.065
    assert pairs_needed(0.004, 0.0) is None and pairs_needed(np.nan, 0.01) is None
    assert pairs_needed(1.0, 1e-6, max_n=50) is None


def test_held_out_inside_counts_by_hand_and_their_coverage_in_simulation():
    from fmnist_lib.stat_tests import held_out_inside_counts

    table = np.array([[0.0, 10.0], [1.0, 11.0], [2.0, 12.0], [100.0, 13.0]])
    # Row 4 held out: column 1's interval from 0, 1, 2 is 1 +/- 4.303 * 1 * sqrt(4/3): 100 is out.
    assert held_out_inside_counts(table)[3] == 1
    small = np.random.default_rng(1).normal(size=(6, 3))
    by_intervals = [
        sum(low <= v <= high for v, (low, high) in zip(
            small[i], [prediction_interval(c) for c in np.delete(small, i, axis=0).T], strict=True))
        for i in range(6)
    ]
    assert list(held_out_inside_counts(small)) == by_intervals
    rng = np.random.default_rng(0)
    independent = [held_out_inside_counts(rng.normal(size=(10, 12))) for _ in range(300)]
    assert np.mean(independent) / 12 == pytest.approx(0.95, abs=0.01)  # each check covers 95%
    shared = rng.normal(size=(300, 10, 1)) + 1e-9 * rng.normal(size=(300, 10, 12))
    counts = np.concatenate([held_out_inside_counts(t) for t in shared])
    assert set(counts) <= {0, 12}  # perfectly correlated checks pass or fail together
    with pytest.raises(ValueError, match="3 seeds"):
        held_out_inside_counts(np.ones((2, 4)))


def test_against_control_pairs_each_arm_with_the_control_under_holm():
    from fmnist_lib.stat_tests import against_control, holm, paired_comparison

    rng = np.random.default_rng(0)
    control = rng.normal(0.90, 0.01, size=5)
    arms = {"control": control, "much worse": control - 0.02 + rng.normal(0, 0.002, 5),
            "same": control + rng.normal(0, 0.002, 5), "a little": control - 0.003}
    rows = {row["arm"]: row for row in against_control(arms, "control")}
    assert list(rows) == ["much worse", "same", "a little"]
    for name, row in rows.items():
        expected = paired_comparison(arms[name], control)
        assert (row["difference"], row["p_value"]) == pytest.approx(
            (expected["difference"], expected["p_value"]))
    rejected = holm([rows[name]["p_value"] for name in rows])
    assert [rows[n]["verdict, Holm"] != "not shown" for n in rows] == list(rejected)
    assert rows["much worse"]["verdict, Holm"] == "reversed"
    with pytest.raises(ValueError, match="control"):
        against_control(arms, "missing")
