import keras
import numpy as np
import pytest

from fmnist_lib import evaluation, theory
from fmnist_lib.data import CLASS_NAMES
from fmnist_lib.evaluation import (
    confusion,
    cross_entropy,
    misclassified,
    most_confused_pairs,
    per_class_scores,
    predict_labels,
    runs_table,
)
from fmnist_lib.stat_tests import overfitting_test


def test_confusion_puts_true_labels_on_rows_and_predictions_on_columns():
    y_true = np.array([0, 0, 0, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0])
    matrix = confusion(y_true, y_pred, n_classes=3)
    assert matrix[0].tolist() == [1, 2, 0]  # true class 0: once right, twice predicted as 1
    assert matrix[:, 0].tolist() == [1, 0, 1]  # predicted 0: one true 0, one true 2
    assert matrix.sum() == 5


def test_confusion_keeps_classes_that_never_occur():
    assert confusion(np.array([3]), np.array([3])).shape == (10, 10)


def test_per_class_scores_match_hand_computed_precision_and_recall():
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    scores = per_class_scores(y_true, y_pred, class_names=("a", "b", "c"))
    assert scores.loc["a", "precision"] == pytest.approx(1 / 2)
    assert scores.loc["b", "recall"] == pytest.approx(2 / 3)
    assert scores.loc["b", "f1"] == pytest.approx(2 / 3)
    assert scores.loc["c", "f1"] == 1.0
    assert scores["support"].tolist() == [2, 3, 1]


def test_most_confused_pairs_ranks_off_diagonal_cells():
    matrix = np.array([[50, 7, 1], [2, 40, 9], [0, 3, 60]])
    pairs = most_confused_pairs(matrix, top=2, class_names=("a", "b", "c"))
    assert pairs[["true", "predicted", "count"]].values.tolist() == [["b", "c", 9], ["a", "b", 7]]
    assert pairs["share_of_true"].iloc[0] == pytest.approx(9 / 51)


def test_most_confused_pairs_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match="square"):
        most_confused_pairs(np.zeros((2, 3)))


def test_predict_labels_is_the_argmax_of_the_model_output():
    import keras

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(10)])
    x = np.random.default_rng(1).normal(size=(7, 3)).astype("float32")
    expected = np.asarray(model(x)).argmax(axis=1)
    labels = predict_labels(model, x)
    assert labels.tolist() == expected.tolist()
    assert len(CLASS_NAMES) == 10


def test_misclassified_lists_mistakes_most_confident_first():
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4], [0.2, 0.8]])
    table = misclassified(np.array([0, 0, 1, 1]), probabilities)
    assert table["index"].tolist() == [1, 2]
    assert table["confidence"].tolist() == [0.7, 0.6]
    assert table["true_probability"].tolist() == [0.3, 0.4]


def test_runs_table_has_one_row_per_run_with_last_and_best_epoch(tmp_path):
    import pandas as pd

    from fmnist_lib.training import RunConfig, RunResult

    history = pd.DataFrame(
        {"val_accuracy": [0.8, 0.9, 0.85], "val_loss": [0.5, 0.3, 0.4]},
        index=pd.Index([1, 2, 3], name="epoch"),
    )
    metrics = {
        "test_cross_entropy": 0.3,
        "best_test_accuracy": 0.88,
        "best_test_loss": 0.33,
        "n_params": 10,
    }
    result = RunResult(
        RunConfig("seed-mlp", 3, 32, 1e-3, seed=2),
        "k",
        tmp_path,
        history,
        0.35,
        0.87,
        2,
        12.0,
        100.0,
        metrics,
        True,
    )
    row = runs_table([result]).iloc[0]
    assert (row["seed"], row["best_epoch"], row["val_accuracy"]) == (2, 2, 0.85)
    assert row["best_val_accuracy"] == 0.9 and row["best_test_accuracy"] == 0.88


def test_cross_entropy_is_the_mean_negative_log_of_the_true_class_probability():
    probabilities = np.array([[0.5, 0.5], [0.1, 0.9], [1.0, 0.0]])
    labels = np.array([0, 1, 1])
    expected = -(np.log(0.5) + np.log(0.9) + np.log(1e-12)) / 3  # the zero is clipped at 1e-12
    assert cross_entropy(probabilities, labels) == pytest.approx(expected)
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(probabilities, labels[:2])


def test_per_image_cross_entropy_is_minus_the_log_of_each_true_class_probability():
    probabilities = np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    labels = np.array([0, 0, 1, 1])
    losses = -np.log([0.5, 0.9, 0.8, 0.4])
    assert evaluation.per_image_cross_entropy(probabilities, labels) == pytest.approx(losses)


def _tiny_convnet(pool: bool) -> keras.Model:
    """Two 3x3 'same' convolutions on a 12x12 image, optionally with a 2x2 pooling between."""
    middle = [keras.layers.MaxPooling2D(2)] if pool else []
    ones = {"kernel_initializer": "ones", "use_bias": False} if not pool else {}
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input(shape=(12, 12, 1)),
            keras.layers.Conv2D(2, 3, padding="same", **ones),
            *middle,
            keras.layers.Conv2D(3, 3, padding="same", name="last", **ones),
        ]
    )


def test_input_gradient_magnitude_of_two_all_ones_convolutions_is_a_known_pyramid():
    images = np.random.default_rng(0).normal(size=(4, 12, 12, 1))
    magnitude = evaluation.input_gradient_magnitude(_tiny_convnet(False), "last", images, (5, 6))
    # Each of the 3 output channels sums 2 channels of 3x3 sums: weights [1, 2, 3, 2, 1] per axis.
    pyramid = np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1])
    expected = np.zeros((12, 12))
    expected[3:8, 4:9] = 3 * 2 * pyramid
    assert magnitude.shape == (12, 12)
    np.testing.assert_allclose(magnitude, expected, rtol=1e-6)
    assert theory.receptive_fields([(3, 1), (3, 1)])[-1] == 5 == np.count_nonzero(magnitude[5])


def test_input_gradient_magnitude_is_zero_outside_the_theoretical_field():
    images = np.random.default_rng(1).uniform(size=(16, 12, 12, 1))
    magnitude = evaluation.input_gradient_magnitude(_tiny_convnet(True), "last", images, (3, 3), 1)
    side = theory.receptive_fields([(3, 1), (2, 2), (3, 1)])[-1]  # 8
    rows, columns = np.nonzero(magnitude)
    assert side == 8 and rows.size > 0
    # The unit over pixels 6-7 sees 8 pixels: 3 more on each side (the 'same' paddings).
    assert rows.min() >= 3 and rows.max() <= 10 and columns.min() >= 3 and columns.max() <= 10


def test_input_gradient_magnitude_rejects_a_unit_outside_the_maps():
    model = _tiny_convnet(True)
    images = np.zeros((1, 12, 12, 1))
    with pytest.raises(ValueError, match="position row"):
        evaluation.input_gradient_magnitude(model, "last", images, (6, 0))
    with pytest.raises(ValueError, match="channel"):
        evaluation.input_gradient_magnitude(model, "last", images, (0, 0), channel=3)
    with pytest.raises(ValueError, match="images"):
        evaluation.input_gradient_magnitude(model, "last", images[0], (0, 0))


def test_final_model_checks_test_the_validation_losses_and_score_training():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(0)
    x_train, y_train = rng.random((30, 4)).astype("float32"), rng.integers(0, 3, 30)
    val_losses = rng.gamma(1.0, 0.3, size=(3, 40)) + np.array([[0.1], [0.0], [0.3]])
    checks = evaluation.final_model_checks(model, val_losses, (x_train, y_train))
    assert {k: v for k, v in checks.items() if k != "final_train_accuracy"} == (
        overfitting_test(val_losses)
    )
    assert checks["final_train_accuracy"] == pytest.approx(
        np.mean(np.asarray(model(x_train)).argmax(1) == y_train)
    )


def test_flip_tta_averages_the_probabilities_of_the_images_and_their_mirrors():
    inputs = keras.Input((28, 28))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(flat))
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    averaged = evaluation.flip_tta_probabilities(model, x)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    symmetric = np.concatenate([x[:, :, :14], x[:, :, :14][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(  # a mirror-symmetric image: the average is the plain prediction
        evaluation.flip_tta_probabilities(model, symmetric),
        model.predict(symmetric, verbose=0),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="shape"):
        evaluation.flip_tta_probabilities(model, x[0])


def test_accuracy_is_the_share_of_rows_whose_argmax_is_the_label():
    probabilities = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    assert evaluation.accuracy(probabilities, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels"):
        evaluation.accuracy(probabilities, np.array([0, 1]))


def _history(losses, val_accuracy=0.5):
    """A history with the given training losses and constant other columns."""
    import pandas as pd

    n = len(losses)
    return pd.DataFrame(
        {"loss": losses, "accuracy": [0.5] * n, "val_loss": [1.0] * n,
         "val_accuracy": [val_accuracy] * n, "time_s": np.arange(n, dtype=float)},
        index=pd.RangeIndex(1, n + 1, name="epoch"),
    )


def test_run_difference_by_hand():
    labels = np.array([0, 1, 2, 3])
    a = np.eye(4, 10)[[0, 1, 2, 0]]  # 3 of 4 right
    b = np.eye(4, 10)[[0, 1, 3, 3]]  # 3 of 4 right, two predictions differ
    d = evaluation.run_difference(_history([2.0, 1.0]), _history([2.5, 1.1]), a, b, labels)
    assert d["first_epoch_loss_relative"] == pytest.approx(0.25)
    assert d["last_epoch_loss_relative"] == pytest.approx(0.1)
    assert d["test_accuracy_difference"] == 0.0
    assert d["predicted_differently"] == 0.5
    assert not d["history_identical"] and not d["probabilities_identical"]
    # Only the clock differs: the same history. One probability one float32 step away: not equal.
    other_clock = _history([2.0, 1.0]).assign(time_s=[9.0, 9.0])
    nudged = a.astype(np.float32)
    nudged[0, 0] = np.nextafter(nudged[0, 0], np.float32(0))
    same = evaluation.run_difference(_history([2.0, 1.0]), other_clock, a, a.copy(), labels)
    near = evaluation.run_difference(_history([2.0, 1.0]), other_clock, a, nudged, labels)
    assert same["history_identical"] and same["probabilities_identical"]
    assert near["history_identical"] and not near["probabilities_identical"]
    assert near["predicted_differently"] == 0.0
    with pytest.raises(ValueError, match="not comparable"):
        evaluation.run_difference(_history([1.0]), _history([1.0, 1.0]), a, a, labels)


def _pinned(model, seed, threads, losses, predictions):
    """A stand-in for a RunResult pinned to `threads`, and its test probabilities."""
    from types import SimpleNamespace

    from fmnist_lib.training import RunConfig

    config = RunConfig(model, len(losses), 32, 1e-3, seed=seed, threads=threads)
    return SimpleNamespace(config=config, history=_history(losses)), np.eye(10)[predictions]


def test_thread_comparison_pairs_each_seeds_counts_and_the_first_two_seeds():
    labels = np.array([0, 1, 2, 3])
    made = [
        _pinned("seed-mlp", 0, 1, [2.0, 1.0], [0, 1, 2, 3]),
        _pinned("seed-mlp", 0, 2, [2.0, 1.0], [0, 1, 2, 3]),  # identical to its 1-thread twin
        _pinned("seed-mlp", 1, 2, [2.2, 1.2], [0, 1, 2, 2]),
        _pinned("seed-mlp", 1, 1, [2.1, 1.0], [0, 1, 3, 3]),
    ]
    results, probabilities = [r for r, _ in made], [p for _, p in made]
    table = evaluation.thread_comparison(results, probabilities, labels)
    assert list(table["compared"]) == [
        "seed 0: 1 vs 2 threads", "seed 1: 1 vs 2 threads", "seeds 0 vs 1: 1 thread"
    ]
    assert list(table["history_identical"]) == [True, False, False]
    assert list(table["probabilities_identical"]) == [True, False, False]
    assert list(table["predicted_differently"]) == [0.0, 0.5, 0.25]
    assert table["test_accuracy_difference"].tolist() == pytest.approx([0.0, 0.0, -0.25])
    with pytest.raises(ValueError, match="same two thread counts"):
        evaluation.thread_comparison(results[:3], probabilities[:3], labels)
    unpinned = [type(results[0])(config=results[0].config.__class__("seed-mlp", 2, 32, 1e-3),
                                 history=results[0].history)]
    with pytest.raises(ValueError, match="not pinned"):
        evaluation.thread_comparison(unpinned, probabilities[:1], labels)
