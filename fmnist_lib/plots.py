"""Figures used across the chapters; every function returns the matplotlib Figure it drew.

The figures carry no titles: the chapters give each one a caption instead.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fmnist_lib.data import CLASS_NAMES


def _panel_grid(n: int, ncols: int, width: float, height: float) -> tuple[Figure, list]:
    """A figure with `n` blank, axis-less panels in rows of at most `ncols`, and those panels."""
    if n < 1:
        raise ValueError(f"there must be at least one panel to draw, got {n}")
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def plot_history(history: pd.DataFrame) -> Figure:
    """Loss and accuracy per epoch, training against validation, side by side."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    epochs = history.index
    for ax, metric, label in ((loss_ax, "loss", "loss"), (acc_ax, "accuracy", "accuracy")):
        ax.plot(epochs, history[metric], marker="o", ms=3, label="training")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], marker="o", ms=3, label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def plot_confusion(
    matrix: np.ndarray,
    class_names: tuple[str, ...] = CLASS_NAMES,
    normalize: bool = False,
) -> Figure:
    """Heatmap of a confusion matrix with true labels on the rows, predicted on the columns."""
    matrix = np.asarray(matrix)
    values = matrix / matrix.sum(axis=1, keepdims=True).clip(min=1) if normalize else matrix
    return _class_heatmap(
        values, class_names, fmt=".2f" if normalize else "d", cmap="Blues", cbar=False
    )


def _class_heatmap(values: np.ndarray, class_names: tuple[str, ...], **heatmap: object) -> Figure:
    """An annotated class-by-class heatmap: true labels on the rows, predicted on the columns."""
    fig, ax = plt.subplots(figsize=(7.5, 6.2), layout="constrained")
    sns.heatmap(
        values, annot=True, xticklabels=class_names, yticklabels=class_names, ax=ax, **heatmap
    )
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return fig


def plot_samples(
    x: np.ndarray,
    y: np.ndarray,
    per_class: int = 8,
    class_names: tuple[str, ...] = CLASS_NAMES,
    seed: int = 0,
) -> Figure:
    """A grid with one row per class and `per_class` randomly chosen examples of it."""
    rng = np.random.default_rng(seed)
    n_classes = len(class_names)
    fig, axes = plt.subplots(
        n_classes, per_class, figsize=(per_class * 0.9 + 1.6, n_classes * 0.9), squeeze=False
    )
    for k, row in enumerate(axes):
        members = np.flatnonzero(y == k)
        chosen = rng.choice(members, size=min(per_class, len(members)), replace=False)
        for j, ax in enumerate(row):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
            if j < len(chosen):
                ax.imshow(x[chosen[j]], cmap="gray_r", vmin=0, vmax=255)
        row[0].set_ylabel(class_names[k], rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.2, wspace=0.05, hspace=0.05)
    return fig


def plot_class_means(means: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES) -> Figure:
    """The mean image of each class, in a grid of small titled panels (five per row)."""
    fig, panels = _panel_grid(len(means), 5, 1.6, 1.85)
    vmax = max(float(np.max(means)), 1e-9)
    for ax, image, name in zip(panels, means, class_names, strict=False):
        ax.imshow(image, cmap="gray_r", vmin=0, vmax=vmax)
        ax.set_title(name, fontsize=10)
    fig.set_layout_engine("constrained")
    return fig


def plot_misclassified(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    confidence: np.ndarray,
    class_names: tuple[str, ...] = CLASS_NAMES,
    ncols: int = 6,
) -> Figure:
    """A gallery of images titled 'true -> predicted (confidence)', in the order given."""
    fig, panels = _panel_grid(len(images), ncols, 1.9, 2.2)
    for k, ax in enumerate(panels):
        ax.imshow(images[k], cmap="gray_r", vmin=0, vmax=255)
        title = f"{class_names[y_true[k]]}\n→ {class_names[y_pred[k]]} ({confidence[k]:.1%})"
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_filters(kernels: np.ndarray, ncols: int = 8) -> Figure:
    """First-layer convolution kernels (kh, kw, 1, n) as small images, one colour scale each."""
    kernels = np.asarray(kernels)
    if kernels.ndim != 4 or kernels.shape[2] != 1:
        raise ValueError(f"kernels must have shape (kh, kw, 1, n), got {kernels.shape}")
    fig, panels = _panel_grid(kernels.shape[3], ncols, 1.1, 1.2)
    for k, ax in enumerate(panels):
        kernel = kernels[:, :, 0, k]
        limit = float(np.abs(kernel).max()) or 1.0
        ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{k}", fontsize=8)
    fig.tight_layout()
    return fig


def plot_feature_maps(maps: np.ndarray, ncols: int = 8) -> Figure:
    """The channels of one image's feature maps (h, w, channels) as a grid of small images."""
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (h, w, channels), got {maps.shape}")
    fig, panels = _panel_grid(maps.shape[2], ncols, 1.1, 1.2)
    for k, ax in enumerate(panels):
        ax.imshow(maps[:, :, k], cmap="viridis")
    fig.tight_layout()
    return fig


def plot_input_gradient(magnitude: np.ndarray, field: tuple[int, int, int]) -> Figure:
    """A map (h, w) of |gradient| over the input pixels, with the square `field` (top, left,
    side in pixels) outlined: the effective receptive field against the theoretical one."""
    magnitude = np.asarray(magnitude)
    if magnitude.ndim != 2:
        raise ValueError(f"magnitude must have shape (h, w), got {magnitude.shape}")
    if len(field) != 3:
        raise ValueError(f"field must be (top, left, side), got {field!r}")
    top, left, side = field
    fig, ax = plt.subplots(figsize=(4.2, 3.6), layout="constrained")
    shown = ax.imshow(magnitude, cmap="magma", vmin=0)
    ax.add_patch(
        plt.Rectangle((left - 0.5, top - 0.5), side, side, fill=False, ec="deepskyblue", lw=1.5)
    )
    fig.colorbar(shown, ax=ax, label="mean |gradient|")
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    return fig


def plot_seed_strips(per_seed: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """One panel per quantity: every run as a dot per model, the 95% prediction interval as a
    bar and the report's value as a cross.

    `per_seed` has columns model, quantity, value (one row per run); `summary` is indexed by
    (model, quantity) with columns report, low, high.
    """
    quantities = list(dict.fromkeys(per_seed["quantity"]))
    model_names = list(dict.fromkeys(per_seed["model"]))
    fig, axes = plt.subplots(
        1, len(quantities), figsize=(2.3 * len(quantities), 3.4), layout="constrained"
    )
    offsets = np.linspace(-0.12, 0.12, max(per_seed.groupby(["model", "quantity"]).size().max(), 2))
    for ax, quantity in zip(np.atleast_1d(axes), quantities, strict=True):
        for x, model in enumerate(model_names):
            values = per_seed.loc[
                (per_seed["model"] == model) & (per_seed["quantity"] == quantity), "value"
            ].to_numpy()
            row = summary.loc[(model, quantity)]
            ax.plot(x + offsets[: len(values)], values, "o", ms=4, color=f"C{x}", alpha=0.8)
            ax.vlines(x + 0.25, row["low"], row["high"], color=f"C{x}", lw=3, alpha=0.5)
            ax.plot(x, row["report"], "x", ms=10, mew=2.5, color="black")
        ax.set_xticks(range(len(model_names)), model_names, rotation=20)
        ax.set_xlim(-0.5, len(model_names) - 0.5)
        ax.set_xlabel(quantity)
        ax.grid(alpha=0.3, axis="y")
    return fig


def plot_confusion_difference(
    difference: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES
) -> Figure:
    """Heatmap of a difference of two confusion matrices, true labels on the rows, centred at 0."""
    difference = np.asarray(difference, dtype=float)
    if difference.shape != (len(class_names), len(class_names)):
        raise ValueError(
            f"difference must be {len(class_names)} x {len(class_names)}, got {difference.shape}"
        )
    limit = max(np.abs(difference).max(), 1e-9)
    return _class_heatmap(
        difference, class_names, fmt=".1f", cmap="RdBu_r", vmin=-limit, vmax=limit, cbar=True
    )


def plot_reliability(
    table: pd.DataFrame, scaled: pd.DataFrame | None = None, ax: Axes | None = None
) -> Figure:
    """Reliability diagram: accuracy against mean confidence per non-empty bin of a reliability
    table, the diagonal of perfect calibration, optionally the table after temperature scaling."""
    drawn = {"table": ("as trained", table), "scaled": ("temperature scaled", scaled)}
    drawn = {name: pair for name, pair in drawn.items() if pair[1] is not None}
    for name, (_, frame) in drawn.items():
        missing = {"count", "confidence", "accuracy"} - set(frame.columns)
        if missing:
            raise ValueError(f"{name} must be a reliability table; it lacks {sorted(missing)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.4, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color="black", ls="--", lw=1, label="perfect calibration")
    for label, frame in drawn.values():
        filled = frame[frame["count"] > 0]
        ax.plot(filled["confidence"], filled["accuracy"], marker="o", ms=4, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1), aspect="equal")
    ax.set_xlabel("confidence (mean in bin)")
    ax.set_ylabel("accuracy in bin")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return ax.figure


def plot_time_to_accuracy(histories: dict[str, list[pd.DataFrame]]) -> Figure:
    """Validation accuracy against cumulative training seconds, one line per run, one colour per
    model; `histories` maps a model's label to its runs' histories (with `time_s` per epoch)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8), layout="constrained")
    for index, (label, runs) in enumerate(histories.items()):
        for run_index, history in enumerate(runs):
            missing = {"time_s", "val_accuracy"} - set(history.columns)
            if missing:
                raise ValueError(f"a history of {label} lacks {sorted(missing)}")
            seconds = history["time_s"].cumsum().to_numpy()
            ax.plot(
                seconds / 60,
                100 * history["val_accuracy"].to_numpy(),
                marker="o",
                ms=3,
                color=f"C{index}",
                alpha=0.8,
                label=label if run_index == 0 else None,
            )
    ax.set_xlabel("training time (minutes, cumulative over epochs)")
    ax.set_ylabel("validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig
