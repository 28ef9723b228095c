"""NumPy reference implementations for the theory chapters, each tested against TensorFlow/Keras.

Activations and the threshold unit, Rosenblatt's perceptron, softmax and cross-entropy, L2
regularisation, 2-d convolution and max pooling in TensorFlow's NHWC layout with its padding
convention, parameter counts and receptive fields, and a small ReLU/softmax MLP trained by
mini-batch SGD. Everything computes in float64 and raises ValueError, naming the argument, for
bad input. tests/test_theory.py checks every function against TensorFlow or Keras.
"""

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fmnist_lib.validation import check_scalar

__all__ = [
    "PerceptronFit",
    "conv2d",
    "conv_output_size",
    "conv_param_count",
    "cross_entropy",
    "cross_entropy_from_logits",
    "cross_entropy_grad",
    "dense_param_count",
    "init_mlp",
    "l2_penalty",
    "log_softmax",
    "logsumexp",
    "max_pool2d",
    "mlp_backward",
    "mlp_forward",
    "mlp_loss",
    "mlp_predict",
    "numerical_gradient",
    "one_hot",
    "perceptron_fit",
    "perceptron_predict",
    "receptive_fields",
    "relu",
    "relu_grad",
    "same_padding",
    "sgd_step",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step",
    "tanh",
    "tanh_grad",
    "train_mlp",
]

Params = list[tuple[np.ndarray, np.ndarray]]
PADDINGS = ("valid", "same")


# --- input checks ---------------------------------------------------------------------------


def _float_array(value: object, name: str, ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """`value` as a float64 array, checking its number of dimensions when `ndim` is given."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of numbers, got {type(value).__name__}"
        ) from None
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if allowed is not None and array.ndim not in allowed:
        wanted = " or ".join(f"{d}-d" for d in allowed)
        raise ValueError(f"{name} must be a {wanted} array, got shape {array.shape}")
    return array


def _padding(value: object) -> str:
    """`value` checked to be 'valid' or 'same'."""
    if value not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {value!r}")
    return str(value)


def _class_labels(labels: object, n: int, n_classes: int, name: str = "labels") -> np.ndarray:
    """Sparse labels as an int array (n,) with values in 0..n_classes-1."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] != n:
        raise ValueError(
            f"{name} must be a 1-d array of {n} class indices, got shape {array.shape}"
        )
    if array.dtype.kind == "b" or array.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise ValueError(f"{name} must hold integer class indices, got non-integer values")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(
            f"{name} must be class indices in 0..{n_classes - 1}, "
            f"got values in {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def _targets(labels: object, n: int, n_classes: int) -> np.ndarray:
    """Sparse labels (n,) or one-hot / soft targets (n, k) as a float target matrix (n, k)."""
    if np.ndim(labels) == 2:
        targets = _float_array(labels, "labels")
        if targets.shape != (n, n_classes):
            raise ValueError(
                f"labels as targets must have shape {(n, n_classes)}, got {targets.shape}"
            )
        return targets
    return one_hot(_class_labels(labels, n, n_classes), n_classes)


# --- activations and the threshold unit ------------------------------------------------------


def step(z: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Heaviside step, same shape as z: 1.0 where z >= threshold else 0.0."""
    return (_float_array(z, "z") >= threshold).astype(np.float64)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-z)), same shape as z, without overflow for large |z|."""
    z = _float_array(z, "z")
    e = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(z: np.ndarray) -> np.ndarray:
    """Derivative of the sigmoid w.r.t. z, sigmoid(z) * (1 - sigmoid(z)), same shape as z."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, same shape as z."""
    return np.tanh(_float_array(z, "z"))


def tanh_grad(z: np.ndarray) -> np.ndarray:
    """Derivative of tanh w.r.t. z, 1 - tanh(z)**2, same shape as z."""
    t = tanh(z)
    return 1.0 - t * t


def relu(z: np.ndarray) -> np.ndarray:
    """Rectified linear unit max(z, 0), same shape as z."""
    return np.maximum(_float_array(z, "z"), 0.0)


def relu_grad(z: np.ndarray) -> np.ndarray:
    """Derivative of ReLU w.r.t. z (taken as 0 at z = 0): 1.0 where z > 0 else 0.0."""
    return (_float_array(z, "z") > 0).astype(np.float64)


# --- perceptron ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PerceptronFit:
    """A perceptron's weights w (d,), bias b, misclassifications per epoch, and convergence."""

    w: np.ndarray
    b: float
    errors: tuple[int, ...]
    converged: bool


def perceptron_fit(
    x: np.ndarray, y: np.ndarray, *, lr: float = 1.0, max_epochs: int = 100
) -> PerceptronFit:
    """Rosenblatt's rule on x (n, d) and y (n,) in {0, 1}, from zeros, until an error-free epoch."""
    x = _float_array(x, "x", ndim=2)
    y = _float_array(y, "y", ndim=1)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have one label per row of x ({x.shape[0]}), got {y.shape[0]}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must hold only the labels 0 and 1")
    lr = check_scalar(lr, "lr", float, min_val=0, include_boundaries="neither")
    max_epochs = check_scalar(max_epochs, "max_epochs", int, min_val=1)
    w = np.zeros(x.shape[1])
    b = 0.0
    errors: list[int] = []
    for _ in range(max_epochs):
        mistakes = 0
        for x_i, y_i in zip(x, y, strict=True):
            update = lr * (y_i - (1.0 if x_i @ w + b >= 0 else 0.0))
            if update != 0:
                w = w + update * x_i
                b += update
                mistakes += 1
        errors.append(mistakes)
        if mistakes == 0:
            return PerceptronFit(w=w, b=float(b), errors=tuple(errors), converged=True)
    return PerceptronFit(w=w, b=float(b), errors=tuple(errors), converged=False)


def perceptron_predict(x: np.ndarray, w: np.ndarray, b: float) -> np.ndarray:
    """Perceptron outputs step(x @ w + b) for x (n, d), w (d,): an int array (n,) of 0/1."""
    x = _float_array(x, "x", ndim=2)
    w = _float_array(w, "w", ndim=1)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"w must have one weight per column of x ({x.shape[1]}), got {w.shape[0]}")
    return step(x @ w + float(b)).astype(np.int64)


# --- softmax and cross-entropy ---------------------------------------------------------------


def softmax(z: np.ndarray, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
    """Softmax of z / temperature along axis, same shape as z; stable (the max is subtracted)."""
    z = _float_array(z, "z") / check_scalar(
        temperature, "temperature", float, min_val=0, include_boundaries="neither"
    )
    shifted = z - np.max(z, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def logsumexp(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(sum(exp(z))) along axis (that axis removed), computed stably."""
    z = _float_array(z, "z")
    m = np.max(z, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = m + np.log(np.sum(np.exp(z - m), axis=axis, keepdims=True))
    return np.squeeze(out, axis=axis)


def log_softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(z)) along axis, same shape as z, computed stably as z - logsumexp(z)."""
    z = _float_array(z, "z")
    return z - np.expand_dims(logsumexp(z, axis=axis), axis)


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (n,) as a float one-hot matrix (n, n_classes)."""
    n_classes = check_scalar(n_classes, "n_classes", int, min_val=1)
    if np.ndim(labels) != 1:
        raise ValueError(
            f"labels must be a 1-d array of class indices, got shape {np.shape(labels)}"
        )
    labels = _class_labels(labels, len(labels), n_classes)
    out = np.zeros((labels.shape[0], n_classes))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out


def cross_entropy(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean over n examples of -log p[true class], probs (n, k) clipped to [eps, 1]; labels (n,)
    ints or (n, k) targets."""
    probs = _float_array(probs, "probs", ndim=2)
    eps = check_scalar(eps, "eps", float, min_val=0, include_boundaries="neither")
    targets = _targets(labels, *probs.shape)
    log_p = np.log(np.clip(probs, eps, 1.0))
    return float(-np.mean(np.sum(targets * log_p, axis=1)))


def cross_entropy_from_logits(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of softmax(logits) for logits (n, k), via log_softmax (stable)."""
    logits = _float_array(logits, "logits", ndim=2)
    targets = _targets(labels, *logits.shape)
    log_p = log_softmax(logits, axis=1)
    # Only entries with a non-zero target count, so a -inf log-probability times 0 adds nothing.
    return float(-np.mean(np.sum(np.where(targets != 0, targets * log_p, 0.0), axis=1)))


def cross_entropy_grad(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Gradient (n, k) of the mean cross-entropy w.r.t. logits: (softmax - targets) / n."""
    logits = _float_array(logits, "logits", ndim=2)
    targets = _targets(labels, *logits.shape)
    return (softmax(logits, axis=1) - targets) / logits.shape[0]


def l2_penalty(weights: Sequence[np.ndarray], lam: float) -> float:
    """lam * sum of squared entries over all weight arrays (Keras L2(lam): no factor 1/2)."""
    lam = check_scalar(lam, "lam", float, min_val=0)
    if isinstance(weights, np.ndarray):
        raise ValueError("weights must be a sequence of arrays, got a single array; wrap it in [ ]")
    total = sum(float(np.sum(_float_array(w, "weights") ** 2)) for w in weights)
    return lam * total


# --- convolution -----------------------------------------------------------------------------


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: str = "valid") -> int:
    """Output length along one axis of n inputs: valid floor((n - k) / s) + 1, same ceil(n / s)."""
    n = check_scalar(n, "n", int, min_val=1)
    kernel = check_scalar(kernel, "kernel", int, min_val=1)
    stride = check_scalar(stride, "stride", int, min_val=1)
    if _padding(padding) == "same":
        return -(-n // stride)
    if kernel > n:
        raise ValueError(f"kernel ({kernel}) must not exceed n ({n}) with padding='valid'")
    return (n - kernel) // stride + 1


def same_padding(n: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) along one axis; the extra pixel goes after."""
    out = conv_output_size(n, kernel, stride, "same")
    total = max((out - 1) * stride + kernel - n, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kh: int, kw: int, stride: int, padding: str, fill: float) -> np.ndarray:
    """Strided (kh, kw) windows of x (n, h, w, c): a view (n, h_out, w_out, c, kh, kw)."""
    if padding == "same":
        pad_h = same_padding(x.shape[1], kh, stride)
        pad_w = same_padding(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), pad_h, pad_w, (0, 0)), constant_values=fill)
    else:
        conv_output_size(x.shape[1], kh, stride, padding)
        conv_output_size(x.shape[2], kw, stride, padding)
    view = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))
    return view[:, ::stride, ::stride]


def conv2d(
    x: np.ndarray,
    kernels: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    stride: int = 1,
    padding: str = "valid",
) -> np.ndarray:
    """Cross-correlation of x (n, h, w, c_in) or (h, w, c_in) with kernels (kh, kw, c_in, c_out),
    plus bias (c_out,): (n, h_out, w_out, c_out), like tf.nn.conv2d."""
    x = _float_array(x, "x", ndim=(3, 4))
    kernels = _float_array(kernels, "kernels", ndim=4)
    stride = check_scalar(stride, "stride", int, min_val=1)
    padding = _padding(padding)
    single = x.ndim == 3
    if single:
        x = x[np.newaxis]
    if kernels.shape[2] != x.shape[3]:
        raise ValueError(
            f"kernels must have c_in = {x.shape[3]} (the channels of x) on axis 2, "
            f"got shape {kernels.shape}"
        )
    kh, kw, _, c_out = kernels.shape
    windows = _windows(x, kh, kw, stride, padding, fill=0.0)
    out = np.tensordot(windows, kernels, axes=([3, 4, 5], [2, 0, 1]))
    if bias is not None:
        bias = _float_array(bias, "bias", ndim=1)
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape ({c_out},), got {bias.shape}")
        out = out + bias
    return out[0] if single else out


def max_pool2d(
    x: np.ndarray, size: int = 2, stride: int | None = None, padding: str = "valid"
) -> np.ndarray:
    """Max over size x size windows of x (n, h, w, c) (or (h, w, c)), stride defaulting to size,
    like keras.layers.MaxPooling2D; 'same' pads with -inf."""
    x = _float_array(x, "x", ndim=(3, 4))
    size = check_scalar(size, "size", int, min_val=1)
    stride = size if stride is None else check_scalar(stride, "stride", int, min_val=1)
    padding = _padding(padding)
    single = x.ndim == 3
    if single:
        x = x[np.newaxis]
    out = _windows(x, size, size, stride, padding, fill=-np.inf).max(axis=(4, 5))
    return out[0] if single else out


def conv_param_count(kernel_h: int, kernel_w: int, c_in: int, c_out: int, bias: bool = True) -> int:
    """Trainable parameters of a Conv2D layer: kernel_h * kernel_w * c_in * c_out (+ c_out)."""
    sizes = {"kernel_h": kernel_h, "kernel_w": kernel_w, "c_in": c_in, "c_out": c_out}
    dims = [check_scalar(value, name, int, min_val=1) for name, value in sizes.items()]
    return math.prod(dims) + (dims[3] if bias else 0)


def dense_param_count(n_in: int, n_out: int, bias: bool = True) -> int:
    """Trainable parameters of a Dense layer: n_in * n_out (+ n_out)."""
    n_in = check_scalar(n_in, "n_in", int, min_val=1)
    n_out = check_scalar(n_out, "n_out", int, min_val=1)
    return n_in * n_out + (n_out if bias else 0)


def receptive_fields(layers: Sequence[tuple[int, int]]) -> list[int]:
    """Receptive field in input pixels of one unit after each (kernel, stride) layer."""
    fields: list[int] = []
    field, jump = 1, 1
    for i, layer in enumerate(layers):
        if len(layer) != 2:
            raise ValueError(f"layers[{i}] must be a (kernel, stride) pair, got {layer!r}")
        kernel = check_scalar(layer[0], f"layers[{i}] kernel", int, min_val=1)
        stride = check_scalar(layer[1], f"layers[{i}] stride", int, min_val=1)
        field += (kernel - 1) * jump
        jump *= stride
        fields.append(field)
    return fields


# --- a small MLP from scratch ----------------------------------------------------------------


def _check_params(params: Params) -> Params:
    """params as a list of (W (n_in, n_out), b (n_out,)) float pairs whose sizes chain."""
    if len(params) == 0:
        raise ValueError("params must hold at least one (W, b) layer, got none")
    checked: Params = []
    for i, layer in enumerate(params):
        if len(layer) != 2:
            raise ValueError(f"params[{i}] must be a (W, b) pair, got {len(layer)} items")
        w = _float_array(layer[0], f"params[{i}] W", ndim=2)
        b = _float_array(layer[1], f"params[{i}] b", ndim=1)
        if b.shape[0] != w.shape[1]:
            raise ValueError(f"params[{i}] b must have shape ({w.shape[1]},), got {b.shape}")
        if checked and checked[-1][0].shape[1] != w.shape[0]:
            raise ValueError(
                f"params[{i}] W must have {checked[-1][0].shape[1]} rows to follow the layer "
                f"before, got shape {w.shape}"
            )
        checked.append((w, b))
    return checked


def init_mlp(sizes: Sequence[int], seed: int = 0) -> Params:
    """He-normal weights W (n_in, n_out) with std sqrt(2 / n_in) and zero biases for each layer."""
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {sizes!r}")
    sizes = [check_scalar(s, "sizes", int, min_val=1) for s in sizes]
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_in, n_out)), np.zeros(n_out))
        for n_in, n_out in itertools.pairwise(sizes)
    ]


def mlp_forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, list]:
    """Probabilities (n, k) for x (n, d), and a cache of (input, pre-activation) per layer."""
    params = _check_params(params)
    a = _float_array(x, "x", ndim=2)
    if a.shape[1] != params[0][0].shape[0]:
        raise ValueError(f"x must have {params[0][0].shape[0]} columns, got shape {a.shape}")
    cache: list[tuple[np.ndarray, np.ndarray]] = []
    for i, (w, b) in enumerate(params):
        z = a @ w + b
        cache.append((a, z))
        a = relu(z) if i < len(params) - 1 else softmax(z, axis=1)
    return a, cache


def mlp_loss(params: Params, x: np.ndarray, labels: np.ndarray, lam: float = 0.0) -> float:
    """Mean cross-entropy of the MLP on x (n, d) plus l2_penalty(lam) of its weights (no biases)."""
    _, cache = mlp_forward(params, x)
    penalty = l2_penalty([w for w, _ in params], lam)
    return cross_entropy_from_logits(cache[-1][1], labels) + penalty


def mlp_backward(params: Params, cache: list, labels: np.ndarray, lam: float = 0.0) -> Params:
    """Exact gradients of mlp_loss w.r.t. every (W, b), from mlp_forward's cache."""
    params = _check_params(params)
    lam = check_scalar(lam, "lam", float, min_val=0)
    if len(cache) != len(params):
        raise ValueError(
            f"cache must hold {len(params)} layers (from mlp_forward), got {len(cache)}"
        )
    delta = cross_entropy_grad(cache[-1][1], labels)
    grads: Params = []
    for i in range(len(params) - 1, -1, -1):
        w = params[i][0]
        a_in = cache[i][0]
        grads.append((a_in.T @ delta + 2.0 * lam * w, delta.sum(axis=0)))
        if i > 0:
            delta = (delta @ w.T) * relu_grad(cache[i - 1][1])
    return grads[::-1]


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """New params (W - lr * dW, b - lr * db) per layer; the inputs are not changed."""
    params = _check_params(params)
    lr = check_scalar(lr, "lr", float, min_val=0, include_boundaries="neither")
    if len(grads) != len(params):
        raise ValueError(f"grads must hold {len(params)} layers like params, got {len(grads)}")
    new: Params = []
    for i, ((w, b), (dw, db)) in enumerate(zip(params, grads, strict=True)):
        dw, db = np.asarray(dw, dtype=np.float64), np.asarray(db, dtype=np.float64)
        if dw.shape != w.shape or db.shape != b.shape:
            raise ValueError(
                f"grads[{i}] must have shapes {w.shape} and {b.shape}, "
                f"got {dw.shape} and {db.shape}"
            )
        new.append((w - lr * dw, b - lr * db))
    return new


def _label_indices(labels: np.ndarray) -> np.ndarray:
    """Class indices (n,) from sparse labels or (n, k) targets (their argmax)."""
    return np.argmax(labels, axis=1) if np.ndim(labels) == 2 else np.asarray(labels)


def train_mlp(
    x: np.ndarray,
    labels: np.ndarray,
    sizes: Sequence[int],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
    lam: float = 0.0,
    x_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> tuple[Params, pd.DataFrame]:
    """Mini-batch SGD of init_mlp(sizes, seed) on x (n, d); history per epoch (loss and accuracy
    averaged over the epoch's batches, as Keras reports them; val_* after the epoch)."""
    x = _float_array(x, "x", ndim=2)
    epochs = check_scalar(epochs, "epochs", int, min_val=1)
    batch_size = check_scalar(batch_size, "batch_size", int, min_val=1)
    lr = check_scalar(lr, "lr", float, min_val=0, include_boundaries="neither")
    lam = check_scalar(lam, "lam", float, min_val=0)
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together, or neither")
    if len(sizes) < 2 or sizes[0] != x.shape[1]:
        raise ValueError(f"sizes must start with the {x.shape[1]} columns of x, got {sizes!r}")
    targets = _targets(labels, x.shape[0], sizes[-1])
    true = np.argmax(targets, axis=1)
    params = init_mlp(sizes, seed)
    rng = np.random.default_rng(seed)
    rows: list[dict[str, float]] = []
    for _ in range(epochs):
        order = rng.permutation(x.shape[0])
        loss_sum, correct = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            batch = order[start : start + batch_size]
            probs, cache = mlp_forward(params, x[batch])
            loss = cross_entropy_from_logits(cache[-1][1], targets[batch])
            loss += l2_penalty([w for w, _ in params], lam)
            loss_sum += loss * len(batch)
            correct += int(np.sum(np.argmax(probs, axis=1) == true[batch]))
            params = sgd_step(params, mlp_backward(params, cache, targets[batch], lam), lr)
        row = {"loss": loss_sum / x.shape[0], "accuracy": correct / x.shape[0]}
        if x_val is not None:
            row["val_loss"] = mlp_loss(params, x_val, y_val, lam)
            row["val_accuracy"] = float(
                np.mean(mlp_predict(params, x_val) == _label_indices(y_val))
            )
        rows.append(row)
    history = pd.DataFrame(rows, index=pd.RangeIndex(1, epochs + 1, name="epoch"))
    return params, history


def mlp_predict(params: Params, x: np.ndarray) -> np.ndarray:
    """Predicted class indices (n,) of the MLP for x (n, d)."""
    probs, _ = mlp_forward(params, x)
    return np.argmax(probs, axis=1)


def numerical_gradient(f: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of f() w.r.t. `array` (same shape), perturbing it in place."""
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise ValueError(f"array must be a float NumPy array that f reads, got {type(array)}")
    if not array.flags.writeable:
        raise ValueError("array must be writeable: it is perturbed in place")
    eps = check_scalar(eps, "eps", float, min_val=0, include_boundaries="neither")
    grad = np.zeros(array.shape)
    for index in np.ndindex(array.shape):
        original = array[index]
        try:
            array[index] = original + eps
            upper = f()
            array[index] = original - eps
            lower = f()
        finally:
            array[index] = original
        grad[index] = (upper - lower) / (2.0 * eps)
    return grad
