"""Transformations of test images, to measure how a classifier's accuracy holds up under them.

Every function takes images of shape (n, 28, 28) or (n, 28, 28, 1), as floats scaled to [0, 1]
(`data.to_float`), and returns new images of the same shape and dtype, never changing its input.
Pixels moved in from outside the image are 0, the background of Fashion-MNIST.
"""

from collections.abc import Callable, Mapping
from types import MappingProxyType

import keras
import numpy as np
from scipy import ndimage
from scipy.stats import norm

from fmnist_lib.evaluation import EVALUATION_BATCH, predict_labels
from fmnist_lib.training import float32_copy
from fmnist_lib.validation import check_scalar


def _check_images(images: np.ndarray) -> np.ndarray:
    """`images` as a float array of shape (n, h, w) or (n, h, w, 1) with values in [0, 1]."""
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 1):
        raise ValueError(f"images must be (n, h, w) or (n, h, w, 1), got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be floats scaled to [0, 1], got dtype {images.dtype}")
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError("images must be scaled to [0, 1] (see data.to_float)")
    return images


def shift(images: np.ndarray, right: int = 0, down: int = 0) -> np.ndarray:
    """Images moved `right` and `down` whole pixels (negative: left, up), zeros filling in."""
    images = _check_images(images)
    right = check_scalar(right, "right", int, min_val=-images.shape[2], max_val=images.shape[2])
    down = check_scalar(down, "down", int, min_val=-images.shape[1], max_val=images.shape[1])
    moved = np.zeros_like(images)
    h, w = images.shape[1:3]
    rows_to = slice(max(down, 0), h + min(down, 0))
    rows_from = slice(max(-down, 0), h + min(-down, 0))
    cols_to = slice(max(right, 0), w + min(right, 0))
    cols_from = slice(max(-right, 0), w + min(-right, 0))
    moved[:, rows_to, cols_to] = images[:, rows_from, cols_from]
    return moved


def mirror(images: np.ndarray) -> np.ndarray:
    """Images flipped left to right."""
    return _check_images(images)[:, :, ::-1].copy()


def gaussian_noise(images: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    """Images plus independent normal noise of standard deviation `sd`, clipped to [0, 1]."""
    images = _check_images(images)
    sd = check_scalar(sd, "sd", float, min_val=0.0)
    seed = check_scalar(seed, "seed", int, min_val=0)
    noise = np.random.default_rng(seed).normal(0.0, sd, size=images.shape)
    return np.clip(images + noise, 0.0, 1.0).astype(images.dtype)


def invert_contrast(images: np.ndarray) -> np.ndarray:
    """Images with dark and light swapped: 1 - x."""
    images = _check_images(images)
    return (1 - images).astype(images.dtype)


def rotate(images: np.ndarray, degrees: float) -> np.ndarray:
    """Images rotated anticlockwise by `degrees` about their centre, bilinear, zeros filling in."""
    images = _check_images(images)
    degrees = check_scalar(degrees, "degrees", float, min_val=-360.0, max_val=360.0)
    turned = ndimage.rotate(images, degrees, axes=(2, 1), reshape=False, order=1, cval=0.0)
    return np.clip(turned, 0.0, 1.0).astype(images.dtype)


# The transformations of the robustness table: a name, and the function of the images.
TRANSFORMS: MappingProxyType[str, Callable[[np.ndarray], np.ndarray]] = MappingProxyType(
    {
        "shifted 1 px right": lambda x: shift(x, right=1),
        "shifted 2 px right": lambda x: shift(x, right=2),
        "shifted 3 px right": lambda x: shift(x, right=3),
        "shifted 2 px right and down": lambda x: shift(x, right=2, down=2),
        "mirrored": mirror,
        "noise sd 0.1": lambda x: gaussian_noise(x, 0.1),
        "noise sd 0.3": lambda x: gaussian_noise(x, 0.3),
        "contrast inverted": invert_contrast,
        "rotated 10 degrees": lambda x: rotate(x, 10.0),
    }
)


def noise_accuracies(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, sd: float, draws: int
) -> np.ndarray:
    """The model's accuracy on the images under each of `draws` independent draws of Gaussian
    noise of standard deviation `sd` (`gaussian_noise` with seeds 0, 1, ...), one per draw."""
    images = _check_images(images)
    draws = check_scalar(draws, "draws", int, min_val=1)
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    shape = (-1, *model.input_shape[1:])
    return np.array(
        [
            (
                predict_labels(model, gaussian_noise(images, sd, seed).reshape(shape)) == labels
            ).mean()
            for seed in range(draws)
        ]
    )


def transformed_accuracies(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    transforms: Mapping[str, Callable[[np.ndarray], np.ndarray]] = TRANSFORMS,
) -> dict[str, float]:
    """The model's accuracy on the untouched images ("original") and on each transform of them.

    `images` are (n, 28, 28) floats in [0, 1]; each set is reshaped to the model's input.
    """
    images = _check_images(images)
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    shape = (-1, *model.input_shape[1:])
    sets = {"original": images, **{name: make(images) for name, make in transforms.items()}}
    return {
        name: float((predict_labels(model, x.reshape(shape)) == labels).mean())
        for name, x in sets.items()
    }


def unclipped_noise(images: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    """Images plus the same noise as `gaussian_noise` (same seed), not clipped: zero mean."""
    images = _check_images(images)
    sd = check_scalar(sd, "sd", float, min_val=0.0)
    noise = np.random.default_rng(seed).normal(0.0, sd, size=images.shape)
    return (images + noise).astype(images.dtype)


def clipping_offset(images: np.ndarray, sd: float) -> np.ndarray:
    """Images moved to the mean of their clipped noisy versions, E[clip(x + e, 0, 1)] for normal
    e of standard deviation `sd`: the mean offset that clipping adds, without the noise."""
    images = _check_images(images)
    sd = check_scalar(sd, "sd", float, min_val=0.0, include_boundaries="neither")
    x = images.astype(np.float64)
    a, b = -x / sd, (1 - x) / sd
    mean = (1 - norm.cdf(b)) + x * (norm.cdf(b) - norm.cdf(a)) + sd * (norm.pdf(a) - norm.pdf(b))
    return mean.astype(images.dtype)


def foreground_noise(images: np.ndarray, sd: float, seed: int = 0) -> np.ndarray:
    """`gaussian_noise` (same seed) on the garment's pixels only: the background (0) stays 0."""
    images = _check_images(images)
    return np.where(images > 0, gaussian_noise(images, sd, seed), images).astype(images.dtype)


# The noise of the robustness table taken apart: each variant keeps one of its effects.
NOISE_VARIANTS: MappingProxyType[str, Callable[[np.ndarray, float, int], np.ndarray]] = (
    MappingProxyType(
        {
            "clipped noise (the table's)": gaussian_noise,
            "zero-mean noise, not clipped": unclipped_noise,
            "clipping's mean offset, no noise": lambda x, sd, seed: clipping_offset(x, sd),
            "noise on the garment only": foreground_noise,
        }
    )
)


def variant_accuracies(
    model: keras.Model, images: np.ndarray, labels: np.ndarray, sd: float, draws: int
) -> dict[str, float]:
    """The model's accuracy under each of `NOISE_VARIANTS` at noise `sd`, each averaged over
    `draws` draws (seeds 0, 1, ...), and on the clean images."""
    images = _check_images(images)
    draws = check_scalar(draws, "draws", int, min_val=1)
    labels = np.asarray(labels)
    shape = (-1, *model.input_shape[1:])

    def accuracy(x: np.ndarray) -> float:
        return float((predict_labels(model, x.reshape(shape)) == labels).mean())

    scores = {"clean images": accuracy(images)}
    for name, make in NOISE_VARIANTS.items():
        scores[name] = float(np.mean([accuracy(make(images, sd, seed)) for seed in range(draws)]))
    return scores


def batchnorm_reestimated(model: keras.Model, images: np.ndarray) -> keras.Model:
    """A copy of a Sequential `model` whose BatchNormalization layers normalise with the mean and
    variance of their own inputs on `images`, every layer before them in inference mode."""
    if not isinstance(model, keras.Sequential):
        raise ValueError(f"model must be a keras.Sequential, got {type(model).__name__}")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    x = np.asarray(images, dtype=np.float32).reshape((-1, *model.input_shape[1:]))
    for layer in copy.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            axes = tuple(range(x.ndim - 1))
            layer.moving_mean.assign(x.mean(axis=axes))
            layer.moving_variance.assign(x.var(axis=axes))
        x = np.concatenate([
            np.asarray(layer(x[i : i + EVALUATION_BATCH], training=False), dtype=np.float32)
            for i in range(0, len(x), EVALUATION_BATCH)
        ])
    return copy


def noise_diagnosis(
    model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    sd: float,
    draws: int,
    batchnorm_images: np.ndarray,
) -> dict[str, float]:
    """Accuracy on clean images and under each of `NOISE_VARIANTS` (`variant_accuracies`), then
    under the table's noise for a float32 copy and, with BatchNorm, for copies whose BatchNorm
    statistics come from `batchnorm_images` with and without that noise (a draw of its own)."""
    scores = variant_accuracies(model, images, labels, sd, draws)
    copy = float32_copy(model)
    copy.set_weights(model.get_weights())
    scores["float32 copy, clipped noise"] = float(
        noise_accuracies(copy, images, labels, sd, draws).mean()
    )
    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers):
        return scores
    from_noisy = batchnorm_reestimated(model, gaussian_noise(batchnorm_images, sd, seed=draws))
    from_clean = batchnorm_reestimated(model, batchnorm_images)
    for name, renormed in (("noisy", from_noisy), ("clean", from_clean)):
        scores[f"BatchNorm from {name} images, clipped noise"] = float(
            noise_accuracies(renormed, images, labels, sd, draws).mean()
        )
    shape = (-1, *model.input_shape[1:])
    scores["BatchNorm from noisy images, clean images"] = float(
        (predict_labels(from_noisy, np.asarray(images).reshape(shape)) == labels).mean()
    )
    return scores
