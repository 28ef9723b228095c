import numpy as np
import pytest

from fmnist_lib.data import CLASS_NAMES
from fmnist_lib.evaluation import confusion, most_confused_pairs, per_class_scores, predict_labels


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
