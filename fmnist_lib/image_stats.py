"""Descriptive statistics of an image set: class balance, mean images, pixel statistics."""

import numpy as np
import pandas as pd

from fmnist_lib.data import CLASS_NAMES, N_CLASSES


def class_counts(y: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES) -> pd.Series:
    """Number of examples per class, indexed by class name in label order."""
    counts = np.bincount(np.asarray(y), minlength=len(class_names))
    return pd.Series(counts, index=pd.Index(class_names, name="class"), name="count")


def class_means(x: np.ndarray, y: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """The mean image of each class, shape (n_classes, *image_shape), in the units of `x`."""
    x = np.asarray(x, dtype=np.float64)
    return np.stack([x[y == k].mean(axis=0) for k in range(n_classes)])


def pixel_statistics(x: np.ndarray) -> dict[str, float]:
    """Mean, standard deviation, share of zero pixels and share of saturated (255) pixels."""
    x = np.asarray(x)
    return {
        "mean": float(x.mean(dtype=np.float64)),
        "std": float(x.std(dtype=np.float64)),
        "zero_fraction": float((x == 0).mean()),
        "saturated_fraction": float((x == 255).mean()),
    }


def mean_distances(means: np.ndarray) -> np.ndarray:
    """Euclidean distances between every pair of mean images, shape (n, n)."""
    flat = means.reshape(len(means), -1)
    return np.sqrt(((flat[:, None, :] - flat[None, :, :]) ** 2).sum(axis=-1))
