"""Figures used across the chapters; every function returns the matplotlib Figure it drew.

The figures carry no titles: the chapters give each one a caption instead.
"""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
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
    fig, ax = plt.subplots(figsize=(7.5, 6.2), layout="constrained")
    sns.heatmap(
        values,
        annot=True,
        fmt=".2f" if normalize else "d",
        cmap="Blues",
        xticklabels=class_names,
        yticklabels=class_names,
        cbar=False,
        ax=ax,
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
