import math

import keras
import numpy as np
import pandas as pd
import pytest
from scipy.special import log_softmax, logit
from scipy.stats import binom

from fmnist_lib import calibration, data, evaluation, models, registry
from fmnist_lib.training import RunConfig, prepare_data, run

# Five examples of three classes; the top-class confidences are 0.9, 0.8, 0.6, 0.5 and 0.4, and
# the top class is right for the first, third and fifth.
PROBABILITIES = np.array(
    [
        [0.9, 0.05, 0.05],
        [0.8, 0.1, 0.1],
        [0.3, 0.6, 0.1],
        [0.2, 0.3, 0.5],
        [0.4, 0.35, 0.25],
    ]
)
LOG_P = np.log(PROBABILITIES)
LABELS = np.array([0, 1, 1, 0, 0])


def draw_labels(rng, log_probabilities):
    """One label per row, drawn from the row's probabilities."""
    cumulative = np.exp(log_probabilities).cumsum(axis=1)
    drawn = (rng.random((len(cumulative), 1)) > cumulative).sum(axis=1)
    return np.minimum(drawn, log_probabilities.shape[1] - 1)  # a sum rounded below 1


def confident_population(rng, n, k=10):
    """Log-probabilities of n examples whose confidences spread from about 0.3 to 1."""
    scores = rng.normal(0.0, 1.0, size=(n, k))
    scores[:, 0] += rng.normal(3.0, 2.0, size=n)
    return log_softmax(scores, axis=1)


# --- log-probabilities from a network -------------------------------------------------------


def tiny_network(last_layers):
    """Four inputs, a Dense of three scores (weights 200 * identity), then `last_layers`."""
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), *last_layers])
    model.layers[0].set_weights([200 * np.eye(4, 3), np.zeros(3)])
    return model


def test_predict_log_probabilities_matches_predict_and_stays_finite_where_softmax_underflows():
    x = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0.5, 0.5, 0, 0], [0.1, 0.2, 0.3, 0.4]], "float32")
    scores = x @ (200 * np.eye(4, 3))
    expected = log_softmax(scores, axis=1)
    for last in ([keras.layers.Activation("softmax")], [keras.layers.Softmax()]):
        model = tiny_network(last)
        log_p = calibration.predict_log_probabilities(model, x)
        assert log_p.dtype == np.float64 and np.all(np.isfinite(log_p))
        assert np.allclose(np.exp(log_p), model.predict(x, verbose=0), rtol=1e-5, atol=1e-7)
        assert np.allclose(log_p, expected, rtol=1e-6)
        assert model.predict(x, verbose=0)[0, 1] == 0.0  # float32's softmax underflows here
        assert log_p[0, 1] == pytest.approx(-200.0)


def test_predict_log_probabilities_applies_a_softmax_dense_layer_itself():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(5, activation="relu"),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    kernel, bias = model.layers[-1].get_weights()
    model.layers[-1].set_weights([60 * kernel, bias])  # confident enough to underflow
    x = np.random.default_rng(0).normal(0.0, 3.0, size=(200, 6)).astype("float32")
    log_p = calibration.predict_log_probabilities(model, x)
    predicted = model.predict(x, verbose=0)
    assert np.allclose(np.exp(log_p), predicted, rtol=1e-4, atol=1e-7)
    assert np.all(np.isfinite(log_p)) and (predicted == 0).any()


def test_predict_log_probabilities_of_the_mixed_precision_cnn_match_its_predictions():
    keras.utils.set_random_seed(0)
    model = models.build_modern_cnn(registry.CNNDesign(widths=(8,), dropout=0.0))
    assert model.layers[-2].dtype_policy.compute_dtype == "bfloat16"  # features in bfloat16
    x = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    log_p = calibration.predict_log_probabilities(model, x)
    assert np.allclose(np.exp(log_p), model.predict(x, verbose=0), rtol=1e-4, atol=1e-7)


def test_predict_log_probabilities_needs_a_final_softmax():
    with pytest.raises(ValueError, match="softmax"):
        calibration.predict_log_probabilities(tiny_network([]), np.zeros((1, 4), "float32"))


def test_run_log_probabilities_are_the_final_model_on_the_validation_and_test_splits(
    results, real_data_dir
):
    config = RunConfig("seed-mlp", epochs=1, batch_size=32, learning_rate=1e-3, train_subset=256)
    result = run(config, quiet=True)
    log_p = calibration.run_log_probabilities(result)
    assert log_p["val"].shape == (data.N_VALIDATION, data.N_CLASSES)
    assert log_p["test"].shape == (data.N_TEST, data.N_CLASSES)
    splits = prepare_data(config, (28, 28))
    y_val, y_test = splits["val"][1], splits["test"][1]
    accuracy = np.mean(log_p["val"].argmax(axis=1) == y_val)
    assert accuracy == pytest.approx(result.history["val_accuracy"].iloc[-1], abs=1e-4)
    cached = np.load(result.folder / "test_probabilities.npy")
    assert np.allclose(np.exp(log_p["test"]), cached, atol=1e-6)
    test_accuracy = np.mean(log_p["test"].argmax(axis=1) == y_test)
    assert test_accuracy == pytest.approx(result.test_accuracy, abs=1e-4)


# --- bins, reliability tables and the ECE ---------------------------------------------------


def test_top_class_gives_the_confidence_and_its_log_odds():
    predicted, confidence, log_odds = calibration.top_class(LOG_P)
    assert predicted.tolist() == [0, 0, 1, 2, 0]
    assert confidence.tolist() == pytest.approx([0.9, 0.8, 0.6, 0.5, 0.4])
    assert log_odds.tolist() == pytest.approx(logit([0.9, 0.8, 0.6, 0.5, 0.4]).tolist())


def test_log_odds_keep_apart_confidences_that_round_to_one():
    log_p = log_softmax(np.array([[40.0, 0.0], [50.0, 0.0], [60.0, 0.0]]), axis=1)
    _, confidence, log_odds = calibration.top_class(log_p)
    assert confidence.tolist() == [1.0, 1.0, 1.0]
    assert log_odds.tolist() == pytest.approx([40.0, 50.0, 60.0])


def test_equal_width_bins_are_closed_on_the_right():
    confidence = np.array([0.0, 0.25, 0.5, 0.5001, 1.0])
    bins = calibration.bin_indices(confidence, np.zeros(5), 2, "width")
    assert bins.tolist() == [0, 0, 0, 1, 1]
    tenths = calibration.bin_indices(np.array([0.3, 0.31, 0.7]), np.zeros(3), 10, "width")
    assert tenths.tolist() == [2, 3, 6]


def test_equal_mass_bins_hold_equal_counts_in_order_of_the_log_odds():
    confidence = np.array([0.9, 0.1, 0.5, 0.7, 0.3])
    bins = calibration.bin_indices(confidence, logit(confidence), 2, "mass")
    assert bins.tolist() == [1, 0, 0, 1, 0]  # sorted 0.1, 0.3, 0.5 | 0.7, 0.9


def test_equal_mass_bins_stay_equal_where_every_confidence_rounds_to_one():
    scores = np.zeros((1000, 10))
    scores[:, 0] = np.linspace(40.0, 80.0, 1000)[::-1]  # distinct logits, all past float64's 1
    log_p = log_softmax(scores, axis=1)
    _, confidence, log_odds = calibration.top_class(log_p)
    assert (confidence == 1.0).all()
    bins = calibration.bin_indices(confidence, log_odds, 10, "mass")
    assert np.bincount(bins).tolist() == [100] * 10
    assert np.array_equal(bins, 9 - np.arange(1000) // 100)  # the largest logits rank last
    table = calibration.reliability_table(log_p, np.zeros(1000, dtype=int), 10, "mass")
    assert table["count"].tolist() == [100] * 10


def test_equal_mass_bins_keep_equal_log_odds_together_whatever_their_order():
    confidence = np.array([0.5, 0.9, 0.5, 0.5])
    log_odds = logit(confidence)
    assert calibration.bin_indices(confidence, log_odds, 2, "mass").tolist() == [0, 1, 0, 0]
    reverse = calibration.bin_indices(confidence[::-1], log_odds[::-1], 2, "mass")
    assert reverse.tolist() == [0, 0, 1, 0]
    halves = np.log(np.full((4, 2), 0.5))
    table = calibration.reliability_table(halves, np.array([0, 1, 1, 0]), 2, "mass")
    assert table["count"].tolist() == [4, 0]  # one tie fills the first bin, the second is empty
    assert table.loc[1, ["lower", "upper", "confidence", "accuracy"]].isna().all()


def test_reliability_table_with_equal_width_bins_matches_a_hand_computation():
    table = calibration.reliability_table(LOG_P, LABELS, n_bins=2, binning="width")
    # (0, 0.5]: 0.5 (wrong) and 0.4 (right); (0.5, 1]: 0.9 (right), 0.8 (wrong), 0.6 (right)
    assert table["count"].tolist() == [2, 3]
    assert table["confidence"].tolist() == pytest.approx([0.45, 2.3 / 3])
    assert table["accuracy"].tolist() == pytest.approx([1 / 2, 2 / 3])
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0.0, 0.5], [0.5, 1.0]]


def test_reliability_table_with_equal_mass_bins_matches_a_hand_computation():
    table = calibration.reliability_table(LOG_P, LABELS, n_bins=2, binning="mass")
    # sorted: 0.4 (right), 0.5 (wrong), 0.6 (right) | 0.8 (wrong), 0.9 (right)
    assert table["count"].tolist() == [3, 2]
    assert table["confidence"].tolist() == pytest.approx([0.5, 0.85])
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 1 / 2])
    assert table[["lower", "upper"]].to_numpy() == pytest.approx(np.array([[0.4, 0.6], [0.8, 0.9]]))


def test_reliability_table_keeps_empty_equal_width_bins_with_no_means():
    table = calibration.reliability_table(LOG_P, LABELS, n_bins=10, binning="width")
    assert len(table) == 10 and table["count"].sum() == 5
    assert table["count"].tolist() == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    assert table.loc[table["count"] == 0, ["confidence", "accuracy"]].isna().all().all()


def test_expected_calibration_error_matches_a_hand_computation_for_both_binnings():
    width = calibration.expected_calibration_error(LOG_P, LABELS, 2, "width")
    mass = calibration.expected_calibration_error(LOG_P, LABELS, 2, "mass")
    assert width == pytest.approx(3 / 5 * abs(2 / 3 - 2.3 / 3) + 2 / 5 * abs(1 / 2 - 0.45))
    assert width == pytest.approx(0.08)
    assert mass == pytest.approx(3 / 5 * abs(2 / 3 - 0.5) + 2 / 5 * abs(1 / 2 - 0.85))
    assert mass == pytest.approx(0.24)


def test_expected_calibration_error_is_zero_for_calibrated_bins_and_ignores_empty_ones():
    # The images of confidence 1 - 1e-300 are all right, those of confidence 0.5 half right.
    log_p = np.log([[1.0, 1e-300], [1.0, 1e-300], [0.5, 0.5], [0.5, 0.5]])
    labels = np.array([0, 0, 0, 1])
    for binning in calibration.BINNINGS:
        assert calibration.expected_calibration_error(log_p, labels, 2, binning) == 0.0
    assert calibration.expected_calibration_error(log_p, labels, 15, "width") == 0.0


def test_ece_bias_of_one_bin_of_equal_confidences_is_the_binomial_mean_absolute_deviation():
    for n, p in ((20, 0.7), (50, 0.95)):
        log_p = np.log(np.tile([p, 1 - p], (n, 1)))
        right = np.arange(n + 1)
        exact = np.sum(binom.pmf(right, n, p) * np.abs(right / n - p))  # E|Bin(n, p)/n - p|
        draws = 20_000
        bias = calibration.ece_bias(log_p, n_bins=1, n_draws=draws, seed=1)
        assert bias == pytest.approx(exact, abs=4 * math.sqrt(p * (1 - p) / n / draws))


def test_ece_of_a_calibrated_classifier_averages_its_ece_bias_above_zero():
    rng = np.random.default_rng(2)
    log_p = confident_population(rng, 2000)
    for binning in calibration.BINNINGS:
        plain = np.array(
            [
                calibration.expected_calibration_error(log_p, draw_labels(rng, log_p), 15, binning)
                for _ in range(100)
            ]
        )
        bias = calibration.ece_bias(log_p, 15, binning, n_draws=2000)
        assert bias > 10 * plain.std() / math.sqrt(len(plain))  # clearly above 0
        assert plain.mean() == pytest.approx(bias, abs=3 * plain.std() / math.sqrt(len(plain)))


def test_squared_calibration_error_matches_a_hand_computation():
    # (0, 0.5]: gaps -0.5 and 0.6; (0.5, 1]: gaps 0.1, -0.8 and 0.4 (right minus confidence).
    sums, squares, counts = np.array([0.1, -0.3]), np.array([0.61, 0.81]), np.array([2, 3])
    variances = (squares - sums**2 / counts) / (counts - 1)
    by_hand = np.sum(sums**2 / counts - variances) / 5
    assert by_hand == pytest.approx(-0.192)
    computed = calibration.squared_calibration_error(LOG_P, LABELS, 2, "width")
    assert computed == pytest.approx(by_hand)
    # With 10 bins every example is alone in its bin, and a bin of one example adds 0.
    assert calibration.squared_calibration_error(LOG_P, LABELS, 10, "width") == 0.0


@pytest.mark.parametrize("sharpening", [1.0, 1.5])
def test_squared_calibration_error_is_unbiased_calibrated_or_not(sharpening):
    rng = np.random.default_rng(3)
    truth = confident_population(rng, 200_000)  # the population the examples are drawn from
    reported = log_softmax(sharpening * truth, axis=1)  # over-confident unless sharpening is 1
    _, confidence, log_odds = calibration.top_class(reported)
    bins = calibration.bin_indices(confidence, log_odds, 15, "width")
    accuracy = np.exp(truth[np.arange(len(truth)), reported.argmax(axis=1)])
    share = np.bincount(bins, minlength=15) / len(truth)
    with np.errstate(invalid="ignore"):
        true_gap = np.bincount(bins, accuracy - confidence, 15) / np.bincount(bins, minlength=15)
    target = np.nansum(share * true_gap**2)  # the bins' mean squared true gap
    estimates = []
    for _ in range(200):
        rows = rng.integers(0, len(truth), 3000)
        labels = draw_labels(rng, truth[rows])
        estimates.append(calibration.squared_calibration_error(reported[rows], labels, 15))
    estimates = np.array(estimates)
    margin = 3 * estimates.std() / math.sqrt(len(estimates))
    assert estimates.mean() == pytest.approx(target, abs=margin + 1e-5)
    if sharpening == 1.0:
        assert target < 1e-30
    else:
        assert target > 20 * margin


def test_brier_score_matches_a_hand_computation():
    per_example = [0.015, 1.46, 0.26, 0.98, 0.545]  # sum over classes of (p - one-hot)^2
    assert calibration.brier_score(LOG_P, LABELS) == pytest.approx(np.mean(per_example))
    sure = np.log(np.array([[1.0, 1e-300, 1e-300]]))
    assert calibration.brier_score(sure, np.array([0])) == pytest.approx(0.0, abs=1e-12)
    assert calibration.brier_score(sure, np.array([1])) == pytest.approx(2.0)


def test_negative_log_likelihood_is_not_clipped():
    log_p = log_softmax(np.array([[0.0, 100.0], [0.0, -3.0]]), axis=1)
    labels = np.array([0, 0])
    assert calibration.negative_log_likelihood(log_p, labels) == pytest.approx(
        (100.0 + math.log1p(math.exp(-100.0)) + math.log1p(math.exp(-3.0))) / 2
    )
    assert evaluation.cross_entropy(np.exp(log_p), labels) < 15  # clipped at 1e-12


def test_calibration_scores_gather_the_metrics():
    scores = calibration.calibration_scores(LOG_P, LABELS, n_bins=2)
    names = "accuracy ece_width ece_width_bias ece_mass ece_mass_bias sce_width sce_mass nll brier"
    assert list(scores) == names.split()
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["ece_width"] == pytest.approx(0.08)
    assert scores["ece_mass"] == pytest.approx(0.24)
    assert scores["ece_mass_bias"] == calibration.ece_bias(LOG_P, 2, "mass", seed=0)
    assert scores["sce_width"] == pytest.approx(-0.192)
    assert scores["nll"] == pytest.approx(-np.mean(np.log([0.9, 0.1, 0.6, 0.2, 0.4])))
    assert scores["nll"] == pytest.approx(evaluation.cross_entropy(PROBABILITIES, LABELS))
    assert scores["brier"] == pytest.approx(0.652)


# --- temperature scaling --------------------------------------------------------------------


def test_temperature_one_is_the_identity():
    assert np.allclose(calibration.apply_temperature(LOG_P, 1.0), LOG_P, atol=1e-15)


def test_temperature_on_log_probabilities_equals_temperature_on_the_logits():
    logits = np.random.default_rng(0).normal(0.0, 40.0, size=(50, 10))
    for t in (0.3, 1.0, 2.5):
        scaled = calibration.apply_temperature(log_softmax(logits, axis=1), t)
        assert np.allclose(scaled, log_softmax(logits / t, axis=1), rtol=1e-12, atol=1e-12)


def test_temperature_keeps_the_argmax_and_flattens_towards_uniform():
    scaled = calibration.apply_temperature(LOG_P, 3.0)
    assert np.array_equal(scaled.argmax(axis=1), LOG_P.argmax(axis=1))
    assert np.all(scaled.max(axis=1) < LOG_P.max(axis=1))
    assert np.allclose(np.exp(calibration.apply_temperature(LOG_P, 1e6)), 1 / 3, atol=1e-5)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_the_temperature_of_tempered_softmax_data(true_temperature):
    rng = np.random.default_rng(1)
    truth = log_softmax(rng.normal(0.0, 3.0, size=(20_000, 10)), axis=1)
    labels = draw_labels(rng, truth)
    reported = log_softmax(truth / true_temperature, axis=1)  # off by a temperature
    fitted = calibration.fit_temperature(reported, labels)
    # Scaling `reported` by T gives softmax(truth / (true_temperature * T)): T = 1 / true one.
    assert fitted == pytest.approx(1 / true_temperature, rel=0.05)
    nll_fitted = calibration.negative_log_likelihood(
        calibration.apply_temperature(reported, fitted), labels
    )
    assert nll_fitted < calibration.negative_log_likelihood(reported, labels)


def nll_at(log_p, labels, temperatures):
    return np.array(
        [
            calibration.negative_log_likelihood(calibration.apply_temperature(log_p, t), labels)
            for t in temperatures
        ]
    )


def test_fit_temperature_finds_the_grid_minimum_with_confident_mistakes_pulling():
    rng = np.random.default_rng(4)
    scores = rng.normal(0.0, 5.0, size=(500, 10))
    scores[:5, 0] = 150.0  # five mistakes so confident that float32's softmax gives them 0
    log_p = log_softmax(scores, axis=1)
    labels = np.where(np.arange(500) < 5, 1, scores.argmax(axis=1))
    labels[5:50] = rng.integers(0, 10, 45)
    assert (np.exp(log_p[np.arange(5), labels[:5]]).astype(np.float32) == 0).all()
    fitted = calibration.fit_temperature(log_p, labels)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 4001))
    nll = nll_at(log_p, labels, grid)
    assert 0.05 < fitted < 20.0
    assert fitted == pytest.approx(grid[nll.argmin()], rel=2e-3)
    assert nll_at(log_p, labels, [fitted])[0] <= nll.min() + 1e-9


def test_the_nll_that_fit_temperature_minimises_is_convex_in_the_inverse_temperature():
    rng = np.random.default_rng(5)
    log_p = log_softmax(rng.normal(0.0, 20.0, size=(300, 10)), axis=1)
    labels = rng.integers(0, 10, 300)
    inverse = np.linspace(0.05, 20.0, 400)
    nll = nll_at(log_p, labels, 1 / inverse)
    assert np.all(np.diff(nll, 2) >= -1e-9 * np.abs(nll[1:-1]))


def test_fit_temperature_stays_in_its_bounds_and_returns_the_nearest_one():
    fitted = calibration.fit_temperature(LOG_P, LABELS, bounds=(1.5, 2.0))
    assert 1.5 <= fitted <= 2.0
    confident_and_right = np.log([[0.99, 0.01], [0.98, 0.02]])
    assert calibration.fit_temperature(confident_and_right, np.array([0, 0]), (0.5, 2.0)) == 0.5


# --- bootstrap intervals of the differences -------------------------------------------------


def test_bootstrap_of_identical_stages_gives_zero_differences_with_zero_width():
    rng = np.random.default_rng(6)
    log_p = confident_population(rng, 300)
    labels = draw_labels(rng, log_p)
    table = calibration.bootstrap_score_differences([log_p], [log_p], labels, 10, n_boot=50)
    assert list(table.index) == list(calibration.SCORES)
    assert (table.to_numpy() == 0).all()


def test_bootstrap_difference_is_the_mean_over_runs_of_the_score_differences():
    rng = np.random.default_rng(7)
    runs = [confident_population(rng, 400) for _ in range(2)]
    labels = draw_labels(rng, runs[0])
    scaled = [calibration.apply_temperature(log_p, 1.7) for log_p in runs]
    table = calibration.bootstrap_score_differences(runs, scaled, labels, 10, n_boot=20)
    each = [
        pd.Series(calibration.calibration_scores(a, labels, 10))
        - pd.Series(calibration.calibration_scores(b, labels, 10))
        for b, a in zip(runs, scaled, strict=True)
    ]
    mean = pd.concat(each, axis=1).mean(axis=1)[list(calibration.SCORES)]
    assert table["difference"].to_numpy() == pytest.approx(mean.to_numpy(), abs=1e-12)
    twice = calibration.bootstrap_score_differences(runs[:1] * 2, scaled[:1] * 2, labels, 10, 20)
    once = calibration.bootstrap_score_differences(runs[:1], scaled[:1], labels, 10, 20)
    assert np.allclose(twice.to_numpy(), once.to_numpy(), rtol=1e-12, atol=1e-15)


def scores_of(log_p, labels, n_bins):
    """The scores that the bootstrap compares, each from its own public function."""
    binned = {
        f"{name}_{binning}": score(log_p, labels, n_bins, binning)
        for name, score in (
            ("ece", calibration.expected_calibration_error),
            ("sce", calibration.squared_calibration_error),
        )
        for binning in calibration.BINNINGS
    }
    return {
        **binned,
        "nll": calibration.negative_log_likelihood(log_p, labels),
        "brier": calibration.brier_score(log_p, labels),
    }


def test_a_bootstrap_replicate_is_the_statistic_on_the_resampled_examples():
    rng = np.random.default_rng(8)
    before = confident_population(rng, 200)
    before = np.concatenate([before, before[:20]])  # ties, which must share equal-mass bins
    labels = draw_labels(rng, before)
    after = calibration.apply_temperature(before, 1.4)
    table = calibration.bootstrap_score_differences([before], [after], labels, 8, n_boot=1, seed=3)
    rows = np.random.default_rng(3).integers(0, len(labels), len(labels))  # the one replicate
    resampled = [scores_of(stage[rows], labels[rows], 8) for stage in (before, after)]
    expected = [resampled[1][name] - resampled[0][name] for name in calibration.SCORES]
    assert table["lower"].tolist() == pytest.approx(expected, abs=1e-12)
    assert table["upper"].tolist() == pytest.approx(expected, abs=1e-12)


def test_bootstrap_interval_of_two_examples_spans_their_two_differences():
    # NLL differences of the two examples: -log(0.6) + log(0.3) and -log(0.8) + log(0.9).
    before = np.log([[0.3, 0.7], [0.9, 0.1]])
    after = np.log([[0.6, 0.4], [0.8, 0.2]])
    table = calibration.bootstrap_score_differences([before], [after], np.array([0, 0]), 1, 400)
    lower, upper = math.log(0.3 / 0.6), math.log(0.9 / 0.8)
    assert table.loc["nll", "difference"] == pytest.approx((lower + upper) / 2)
    assert table.loc["nll", ["lower", "upper"]].tolist() == pytest.approx([lower, upper])


def test_bootstrap_intervals_of_unbiased_differences_cover_the_truth_about_95_percent():
    # Three kinds of example with known label probabilities, each kind alone in its equal-width
    # bin (of 10) before and after: the expected squared gap, NLL and Brier score are exact.
    share = np.array([0.5, 0.3, 0.2])
    truth = log_softmax(np.array([[4.0, 1.0, 0.0], [0.0, 2.5, 0.5], [0.3, 0.0, 1.2]]) / 1.6, 1)
    before = log_softmax(1.6 * truth, axis=1)
    after = log_softmax(1.1 * truth, axis=1)
    q, eye = np.exp(truth), np.eye(3)

    def expected(log_p):
        p = np.exp(log_p)
        gap = q[np.arange(3), p.argmax(axis=1)] - p.max(axis=1)
        brier = ((p[:, None, :] - eye[None]) ** 2).sum(axis=2)
        return np.array(
            [share @ gap**2, share @ (q * -log_p).sum(axis=1), share @ (q * brier).sum(axis=1)]
        )

    true_difference = expected(after) - expected(before)
    names = ["sce_width", "nll", "brier"]
    rng, covered, trials = np.random.default_rng(9), np.zeros(3), 100
    for trial in range(trials):
        kinds = rng.choice(3, 600, p=share)
        labels = draw_labels(rng, truth[kinds])
        table = calibration.bootstrap_score_differences(
            [before[kinds]], [after[kinds]], labels, 10, n_boot=200, seed=trial
        )
        lower, upper = table.loc[names, "lower"].to_numpy(), table.loc[names, "upper"].to_numpy()
        covered += (lower <= true_difference) & (true_difference <= upper)
    assert np.all((covered / trials >= 0.88) & (covered / trials <= 0.99)), covered


# --- input validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: calibration.brier_score(LOG_P, LABELS[:4]), "labels"),
        (lambda: calibration.brier_score(LOG_P, LABELS + 0.5), "labels"),
        (lambda: calibration.brier_score(LOG_P, np.array([0, 1, 3, 0, 0])), "labels"),
        (lambda: calibration.brier_score(LOG_P[:, :1], LABELS), "log_probabilities"),
        (lambda: calibration.brier_score(LOG_P.ravel(), LABELS), "log_probabilities"),
        (lambda: calibration.brier_score(PROBABILITIES, LABELS), "log_probabilities"),
        (lambda: calibration.brier_score([[0.0, -np.inf]], [0]), "log_probabilities"),
        (lambda: calibration.reliability_table(LOG_P, LABELS, n_bins=0), "n_bins"),
        (lambda: calibration.reliability_table(LOG_P, LABELS, 6, "mass"), "n_bins"),
        (lambda: calibration.reliability_table(LOG_P, LABELS, 2, "quantile"), "binning"),
        (lambda: calibration.bin_indices(np.array([0.5, 1.5]), np.zeros(2), 2), "confidence"),
        (lambda: calibration.bin_indices(np.array([0.5, 0.6]), np.zeros(3), 2), "log_odds"),
        (lambda: calibration.ece_bias(LOG_P, 2, n_draws=0), "n_draws"),
        (lambda: calibration.apply_temperature(LOG_P, 0.0), "temperature"),
        (lambda: calibration.apply_temperature(LOG_P, -1.0), "temperature"),
        (lambda: calibration.apply_temperature(LOG_P, math.inf), "temperature"),
        (lambda: calibration.fit_temperature(LOG_P, LABELS, (2.0, 1.0)), "bounds"),
        (lambda: calibration.bootstrap_score_differences([LOG_P], [], LABELS), "before and after"),
        (lambda: calibration.bootstrap_score_differences([LOG_P], [LOG_P], LABELS, 2, 0), "n_boot"),
        (
            lambda: calibration.bootstrap_score_differences([LOG_P], [LOG_P], LABELS, 2, 5, 1.0),
            "level",
        ),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()
