"""Predictions, metrics, confusion matrices and per-class scores.

Confusion matrices here put the TRUE label on the rows and the PREDICTED label on the columns,
as scikit-learn does. The 2020 report's text and captions describe the other way round
(predictions on the rows); its code called scikit-learn the same way we do, so only its
description is transposed.
"""


import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix
from sklearn.metrics import precision_recall_fscore_support

from fmnist_lib.data import CLASS_NAMES, N_CLASSES
from fmnist_lib.stat_tests import overfitting_test
from fmnist_lib.validation import check_scalar

# Images per forward pass when a trained model scores a split: memory and speed, not the numbers.
EVALUATION_BATCH = 512


def predict_probabilities(
    model: keras.Model, x: np.ndarray, batch_size: int = EVALUATION_BATCH
) -> np.ndarray:
    """Class probabilities of shape (n, 10) for images `x` already shaped for the model."""
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))


def predict_labels(
    model: keras.Model, x: np.ndarray, batch_size: int = EVALUATION_BATCH
) -> np.ndarray:
    """Predicted labels (n,) as the argmax of the probabilities (Keras 3 has no predict_classes)."""
    return predict_probabilities(model, x, batch_size).argmax(axis=-1)


def flip_tta_probabilities(
    model: keras.Model, x: np.ndarray, batch_size: int = EVALUATION_BATCH
) -> np.ndarray:
    """Test-time augmentation: the mean of the probabilities for the images and their mirrors.

    `x` is shaped for the model, (n, 28, 28) or (n, 28, 28, 1); axis 2 is the image's width.
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be (n, h, w) or (n, h, w, 1) images, got shape {x.shape}")
    mirrored = np.ascontiguousarray(x[:, :, ::-1])
    return (
        predict_probabilities(model, x, batch_size)
        + predict_probabilities(model, mirrored, batch_size)
    ) / 2


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The fraction of rows whose largest probability is at the true label."""
    probabilities, labels = np.asarray(probabilities), np.asarray(labels)
    if probabilities.ndim != 2 or len(probabilities) != len(labels):
        raise ValueError(
            f"probabilities must be (n, classes) for {len(labels)} labels, "
            f"got shape {probabilities.shape}"
        )
    return float((probabilities.argmax(axis=1) == labels).mean())


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean of -log p[true class] over examples; probabilities (n, k), clipped below at eps."""
    return float(np.mean(per_image_cross_entropy(probabilities, labels, eps)))


def per_image_cross_entropy(
    probabilities: np.ndarray, labels: np.ndarray, eps: float = 1e-12
) -> np.ndarray:
    """-log p[true class] of each example (n,); probabilities (n, k), clipped below at eps."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (len(probabilities),):
        raise ValueError(
            f"probabilities must be (n, k) and labels (n,), got {probabilities.shape} and "
            f"{labels.shape}"
        )
    true_class = probabilities[np.arange(len(labels)), labels]
    return -np.log(np.clip(true_class, eps, 1.0))


def final_model_checks(
    model: keras.Model, val_losses: np.ndarray, train: tuple[np.ndarray, np.ndarray]
) -> dict[str, float | int | bool]:
    """A run's over-fitting test on its per-image validation losses (`stat_tests.overfitting_test`)
    and the accuracy of its final weights on the training images."""
    train_accuracy = float(np.mean(predict_labels(model, train[0]) == train[1]))
    return {**overfitting_test(val_losses), "final_train_accuracy": train_accuracy}


def input_gradient_magnitude(
    model: keras.Model,
    layer_name: str,
    images: np.ndarray,
    position: tuple[int, int],
    channel: int | None = None,
) -> np.ndarray:
    """Mean over `images` of |d unit / d input pixel|, of shape (h, w) like one image.

    The unit is the output of layer `layer_name` at (row, column) `position` of its feature
    maps, in channel `channel`, or summed over all channels when `channel` is None. `images`
    is (n, h, w) or (n, h, w, c), shaped for the model; input channels are summed. A pixel
    outside the unit's receptive field gets exactly 0 (Luo et al. 2016 call the rest the
    effective receptive field).
    """
    images = np.asarray(images, dtype=np.float32)
    shape = tuple(model.input_shape[1:])
    if images.ndim not in (3, 4) or images.shape[1:] != shape or len(images) == 0:
        raise ValueError(f"images must have shape (n, *{shape}) for the model, got {images.shape}")
    layer = model.get_layer(layer_name)
    maps = tuple(layer.output.shape[1:])
    if len(maps) != 3:
        raise ValueError(f"layer {layer_name!r} must output (h, w, channels) maps, got {maps}")
    if len(position) != 2:
        raise ValueError(f"position must be a (row, column) pair, got {position!r}")
    row = check_scalar(position[0], "position row", int, min_val=0, max_val=maps[0] - 1)
    column = check_scalar(position[1], "position column", int, min_val=0, max_val=maps[1] - 1)
    if channel is not None:
        channel = check_scalar(channel, "channel", int, min_val=0, max_val=maps[2] - 1)
    probe = keras.Model(inputs=model.inputs, outputs=layer.output)
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        units = probe(x)[:, row, column]  # (n, channels); each image's unit depends on it alone
        target = tf.reduce_sum(units if channel is None else units[:, channel])
    magnitude = np.abs(tape.gradient(target, x).numpy())
    if magnitude.ndim == 4:
        magnitude = magnitude.sum(axis=-1)
    return magnitude.mean(axis=0)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Counts (n_classes, n_classes): row i, column j = images of true class i predicted as j."""
    return _sk_confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))


def per_class_scores(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES
) -> pd.DataFrame:
    """Precision, recall, F1 and support for every class, one row per class name."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(len(class_names)), zero_division=0
    )
    return pd.DataFrame(
        {"precision": precision, "recall": recall, "f1": f1, "support": support},
        index=pd.Index(class_names, name="class"),
    )


def most_confused_pairs(
    matrix: np.ndarray, top: int = 5, class_names: tuple[str, ...] = CLASS_NAMES
) -> pd.DataFrame:
    """The `top` largest off-diagonal cells of a confusion matrix (true on rows), largest first."""
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square, got shape {matrix.shape}")
    rows, cols = np.nonzero(~np.eye(len(matrix), dtype=bool))
    counts = matrix[rows, cols]
    order = np.argsort(-counts, kind="stable")[:top]
    return pd.DataFrame(
        {
            "true": [class_names[i] for i in rows[order]],
            "predicted": [class_names[j] for j in cols[order]],
            "count": counts[order],
            "share_of_true": counts[order] / matrix.sum(axis=1)[rows[order]].clip(min=1),
        }
    )


def runs_table(results: list) -> pd.DataFrame:
    """One row per training run: model, seed, last-epoch and best-epoch metrics, timing."""
    rows = []
    for result in results:
        m, config, last = result.metrics, result.config, result.history.iloc[-1]
        best = result.history.loc[result.best_epoch]
        rows.append(
            {
                "model": config.model,
                "seed": config.seed,
                "epochs": config.epochs,
                "test_accuracy": result.test_accuracy,
                "test_loss": result.test_loss,
                "test_cross_entropy": m["test_cross_entropy"],
                "val_accuracy": last["val_accuracy"],
                "val_loss": last["val_loss"],
                "best_epoch": result.best_epoch,
                "best_val_accuracy": best["val_accuracy"],
                "best_val_loss": best["val_loss"],
                "best_test_accuracy": m["best_test_accuracy"],
                "best_test_loss": m["best_test_loss"],
                "wall_time_s": result.wall_time_s,
                "samples_per_s": result.samples_per_s,
                "n_params": m["n_params"],
            }
        )
    return pd.DataFrame(rows)


# The per-epoch numbers two runs are compared on: what training computes, not the clock.
HISTORY_NUMBERS = ("loss", "accuracy", "val_loss", "val_accuracy")


def run_difference(
    first: pd.DataFrame,
    second: pd.DataFrame,
    first_probabilities: np.ndarray,
    second_probabilities: np.ndarray,
    labels: np.ndarray,
) -> dict:
    """How far a second run lies from a first, from their histories and test probabilities.

    The first and last epochs' training losses as relative differences, the test accuracy's
    difference (second minus first), the share of test images the two predict differently, and
    whether every history number, and every test probability, is equal bit for bit.
    """
    if len(first) != len(second) or len(first_probabilities) != len(second_probabilities):
        raise ValueError("the two runs differ in epochs or in test images: not comparable")
    loss_a, loss_b = first["loss"].to_numpy(), second["loss"].to_numpy()
    columns = list(HISTORY_NUMBERS)
    return {
        "first_epoch_loss_relative": abs(loss_b[0] - loss_a[0]) / loss_a[0],
        "last_epoch_loss_relative": abs(loss_b[-1] - loss_a[-1]) / loss_a[-1],
        "test_accuracy_difference": accuracy(second_probabilities, labels)
        - accuracy(first_probabilities, labels),
        "predicted_differently": float(
            np.mean(first_probabilities.argmax(axis=1) != second_probabilities.argmax(axis=1))
        ),
        "history_identical": bool(
            np.array_equal(first[columns].to_numpy(), second[columns].to_numpy())
        ),
        "probabilities_identical": bool(
            np.array_equal(first_probabilities, second_probabilities)
        ),
    }


def thread_comparison(
    results: list, probabilities: list[np.ndarray], labels: np.ndarray
) -> pd.DataFrame:
    """Runs pinned to two thread counts (`RunConfig.threads`), one row per comparison.

    Per model: each seed's run at the higher count against its run at the lower, then, as the
    yardstick, the first two seeds' runs at the lower count against each other. Columns are
    `run_difference`'s.
    """
    runs: dict[str, dict[int, dict[int, int]]] = {}
    for index, result in enumerate(results):
        config = result.config
        if config.threads is None:
            raise ValueError(f"{config.label()} is not pinned to a thread count")
        runs.setdefault(config.model, {}).setdefault(config.seed, {})[config.threads] = index
    rows = []
    for model, by_seed in runs.items():
        counts = {tuple(sorted(by_threads)) for by_threads in by_seed.values()}
        if len(counts) != 1 or len(next(iter(counts))) != 2:
            raise ValueError(f"{model}: each seed needs runs at the same two thread counts")
        low, high = next(iter(counts))
        pairs = [
            (f"seed {seed}: {low} vs {high} threads", by_threads[low], by_threads[high])
            for seed, by_threads in sorted(by_seed.items())
        ]
        seeds = sorted(by_seed)
        if len(seeds) > 1:
            first, second = by_seed[seeds[0]][low], by_seed[seeds[1]][low]
            plural = "" if low == 1 else "s"
            pairs.append((f"seeds {seeds[0]} vs {seeds[1]}: {low} thread{plural}", first, second))
        for compared, a, b in pairs:
            difference = run_difference(
                results[a].history,
                results[b].history,
                probabilities[a],
                probabilities[b],
                labels,
            )
            rows.append({"model": model, "compared": compared, **difference})
    return pd.DataFrame(rows)


def misclassified(y_true: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """The wrongly classified examples, most confident mistakes first, with their indices."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    table = pd.DataFrame(
        {
            "index": wrong,
            "true": y_true[wrong],
            "predicted": predicted[wrong],
            "confidence": probabilities[wrong, predicted[wrong]],
            "true_probability": probabilities[wrong, y_true[wrong]],
        }
    )
    return table.sort_values("confidence", ascending=False, kind="stable", ignore_index=True)
