import math

import numpy as np
import pytest

from fmnist_lib import calibration, data, evaluation
from fmnist_lib.training import RunConfig, run

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
LABELS = np.array([0, 1, 1, 0, 0])


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_equal_width_bins_are_closed_on_the_right():
    bins = calibration.bin_indices(np.array([0.0, 0.25, 0.5, 0.5001, 1.0]), 2, "width")
    assert bins.tolist() == [0, 0, 0, 1, 1]
    tenths = calibration.bin_indices(np.array([0.3, 0.31, 0.7]), 10, "width")
    assert tenths.tolist() == [2, 3, 6]


def test_equal_mass_bins_hold_equal_counts_in_order_of_confidence():
    bins = calibration.bin_indices(np.array([0.9, 0.1, 0.5, 0.7, 0.3]), 2, "mass")
    assert bins.tolist() == [1, 0, 0, 1, 0]  # sorted 0.1, 0.3, 0.5 | 0.7, 0.9


def test_equal_mass_bins_keep_equal_confidences_together_whatever_their_order():
    confidence = np.array([0.5, 0.9, 0.5, 0.5])
    assert calibration.bin_indices(confidence, 2, "mass").tolist() == [0, 1, 0, 0]
    assert calibration.bin_indices(confidence[::-1], 2, "mass").tolist() == [0, 0, 1, 0]
    table = calibration.reliability_table(np.full((4, 2), 0.5), np.array([0, 1, 1, 0]), 2, "mass")
    assert table["count"].tolist() == [4, 0]  # one tie fills the first bin, the second is empty
    assert table.loc[1, ["lower", "upper", "confidence", "accuracy"]].isna().all()


def test_reliability_table_with_equal_width_bins_matches_a_hand_computation():
    table = calibration.reliability_table(PROBABILITIES, LABELS, n_bins=2, binning="width")
    # (0, 0.5]: 0.5 (wrong) and 0.4 (right); (0.5, 1]: 0.9 (right), 0.8 (wrong), 0.6 (right)
    assert table["count"].tolist() == [2, 3]
    assert table["confidence"].tolist() == pytest.approx([0.45, 2.3 / 3])
    assert table["accuracy"].tolist() == pytest.approx([1 / 2, 2 / 3])
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0.0, 0.5], [0.5, 1.0]]


def test_reliability_table_with_equal_mass_bins_matches_a_hand_computation():
    table = calibration.reliability_table(PROBABILITIES, LABELS, n_bins=2, binning="mass")
    # sorted: 0.4 (right), 0.5 (wrong), 0.6 (right) | 0.8 (wrong), 0.9 (right)
    assert table["count"].tolist() == [3, 2]
    assert table["confidence"].tolist() == pytest.approx([0.5, 0.85])
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 1 / 2])
    assert table[["lower", "upper"]].to_numpy().tolist() == [[0.4, 0.6], [0.8, 0.9]]


def test_reliability_table_keeps_empty_equal_width_bins_with_no_means():
    table = calibration.reliability_table(PROBABILITIES, LABELS, n_bins=10, binning="width")
    assert len(table) == 10 and table["count"].sum() == 5
    assert table["count"].tolist() == [0, 0, 0, 1, 1, 1, 0, 1, 1, 0]
    assert table.loc[table["count"] == 0, ["confidence", "accuracy"]].isna().all().all()


def test_expected_calibration_error_matches_a_hand_computation_for_both_binnings():
    width = calibration.expected_calibration_error(PROBABILITIES, LABELS, 2, "width")
    mass = calibration.expected_calibration_error(PROBABILITIES, LABELS, 2, "mass")
    assert width == pytest.approx(3 / 5 * abs(2 / 3 - 2.3 / 3) + 2 / 5 * abs(1 / 2 - 0.45))
    assert width == pytest.approx(0.08)
    assert mass == pytest.approx(3 / 5 * abs(2 / 3 - 0.5) + 2 / 5 * abs(1 / 2 - 0.85))
    assert mass == pytest.approx(0.24)


def test_expected_calibration_error_is_zero_for_calibrated_bins_and_ignores_empty_ones():
    # The images of confidence 1 are all right, those of confidence 0.5 half right.
    probabilities = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]])
    labels = np.array([0, 0, 0, 1])
    for binning in calibration.BINNINGS:
        assert calibration.expected_calibration_error(probabilities, labels, 2, binning) == 0.0
    assert calibration.expected_calibration_error(probabilities, labels, 15, "width") == 0.0


def test_brier_score_matches_a_hand_computation():
    per_example = [0.015, 1.46, 0.26, 0.98, 0.545]  # sum over classes of (p - one-hot)^2
    assert calibration.brier_score(PROBABILITIES, LABELS) == pytest.approx(np.mean(per_example))
    assert calibration.brier_score(np.eye(3), np.arange(3)) == 0.0
    assert calibration.brier_score(np.eye(3), np.array([1, 2, 0])) == 2.0


def test_calibration_scores_gather_the_metrics_with_the_nll_of_evaluation():
    scores = calibration.calibration_scores(PROBABILITIES, LABELS, n_bins=2)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["ece_width"] == pytest.approx(0.08)
    assert scores["ece_mass"] == pytest.approx(0.24)
    nll = -np.mean(np.log([0.9, 0.1, 0.6, 0.2, 0.4]))
    assert scores["nll"] == pytest.approx(nll)
    assert scores["nll"] == evaluation.cross_entropy(PROBABILITIES, LABELS)
    assert scores["brier"] == pytest.approx(0.652)


def test_temperature_one_is_the_identity():
    assert np.allclose(calibration.apply_temperature(PROBABILITIES, 1.0), PROBABILITIES, atol=1e-15)
    with_zero = np.array([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0]])
    assert np.allclose(calibration.apply_temperature(with_zero, 1), with_zero, atol=1e-15)


def test_temperature_on_probabilities_equals_temperature_on_the_logits():
    logits = np.random.default_rng(0).normal(0.0, 4.0, size=(50, 10))
    for t in (0.3, 1.0, 2.5):
        scaled = calibration.apply_temperature(softmax(logits), t)
        assert np.allclose(scaled, softmax(logits / t), rtol=1e-9, atol=1e-15)


def test_temperature_keeps_the_argmax_and_flattens_towards_uniform():
    scaled = calibration.apply_temperature(PROBABILITIES, 3.0)
    assert np.array_equal(scaled.argmax(axis=1), PROBABILITIES.argmax(axis=1))
    assert np.all(scaled.max(axis=1) < PROBABILITIES.max(axis=1))
    assert np.allclose(calibration.apply_temperature(PROBABILITIES, 1e6), 1 / 3, atol=1e-5)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_the_temperature_of_tempered_softmax_data(true_temperature):
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 3.0, size=(20_000, 10))
    truth = softmax(logits)  # the labels are drawn from these probabilities
    drawn = (rng.random((len(truth), 1)) > truth.cumsum(axis=1)).sum(axis=1)
    labels = np.minimum(drawn, 9)  # a cumulative sum rounded below 1 must not give class 10
    reported = softmax(logits / true_temperature)  # a model that is off by a temperature
    fitted = calibration.fit_temperature(reported, labels)
    # Scaling `reported` by T gives softmax(logits / (true_temperature * T)): T = 1 / true one.
    assert fitted == pytest.approx(1 / true_temperature, rel=0.05)
    nll_fitted = evaluation.cross_entropy(calibration.apply_temperature(reported, fitted), labels)
    assert nll_fitted < evaluation.cross_entropy(reported, labels)


def test_fit_temperature_stays_in_its_bounds():
    fitted = calibration.fit_temperature(PROBABILITIES, LABELS, bounds=(1.5, 2.0))
    assert 1.5 <= fitted <= 2.0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: calibration.brier_score(PROBABILITIES, LABELS[:4]), "labels"),
        (lambda: calibration.brier_score(PROBABILITIES, LABELS + 0.5), "labels"),
        (lambda: calibration.brier_score(PROBABILITIES, np.array([0, 1, 3, 0, 0])), "labels"),
        (lambda: calibration.brier_score(PROBABILITIES[:, :2], LABELS), "probabilities"),
        (lambda: calibration.brier_score(PROBABILITIES.ravel(), LABELS), "probabilities"),
        (lambda: calibration.brier_score(-PROBABILITIES, LABELS), "probabilities"),
        (lambda: calibration.reliability_table(PROBABILITIES, LABELS, n_bins=0), "n_bins"),
        (lambda: calibration.reliability_table(PROBABILITIES, LABELS, 6, "mass"), "n_bins"),
        (lambda: calibration.reliability_table(PROBABILITIES, LABELS, 2, "quantile"), "binning"),
        (lambda: calibration.bin_indices(np.array([0.5, 1.5]), 2), "confidence"),
        (lambda: calibration.apply_temperature(PROBABILITIES, 0.0), "temperature"),
        (lambda: calibration.apply_temperature(PROBABILITIES, -1.0), "temperature"),
        (lambda: calibration.apply_temperature(PROBABILITIES, math.inf), "temperature"),
        (lambda: calibration.fit_temperature(PROBABILITIES, LABELS, (2.0, 1.0)), "bounds"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_argument(call, fragment):
    with pytest.raises(ValueError, match=fragment):
        call()


def test_validation_probabilities_are_the_final_model_on_the_validation_split(
    results, real_data_dir
):
    config = RunConfig("seed-mlp", epochs=1, batch_size=32, learning_rate=1e-3, train_subset=256)
    result = run(config, quiet=True)
    probabilities, labels = calibration.validation_probabilities(result)
    assert probabilities.shape == (data.N_VALIDATION, data.N_CLASSES)
    (x_full, y_full), _ = data.load_fashion_mnist()
    _, (_, y_val) = data.split_validation(x_full, y_full, data.N_VALIDATION)
    assert np.array_equal(labels, y_val)
    accuracy = np.mean(probabilities.argmax(axis=1) == labels)
    assert accuracy == pytest.approx(result.history["val_accuracy"].iloc[-1], abs=1e-4)
