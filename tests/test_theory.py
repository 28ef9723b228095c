"""fmnist_lib.theory checked against TensorFlow/Keras on random inputs drawn with hypothesis.

Where TensorFlow computes in float64 (tf.math, tf.nn, keras.activations on float64 tensors) the
two must agree to float64 round-off; Keras layers and losses compute in float32, so their inputs
are rounded to float32 first and the comparison allows float32 round-off.
"""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fmnist_lib import evaluation, theory
from fmnist_lib.models import build_seed_cnn

# float64 NumPy against float64 TensorFlow: round-off of a few ulps of values up to 1e4.
ATOL_FLOAT64 = 1e-11
RTOL_FLOAT64 = 1e-12
# float64 NumPy against Keras layers and losses computing in float32 on the same float32 inputs.
ATOL_FLOAT32 = 1e-5
RTOL_FLOAT32 = 1e-5
# Analytic against central-difference gradients (eps 1e-6) in float64.
GRAD_CHECK_RTOL = 1e-6

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

AND = np.array([0, 0, 0, 1])
OR = np.array([0, 1, 1, 1])
XOR = np.array([0, 1, 1, 0])
BOOLEAN_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])


def floats(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite float64 values in [low, high], not subnormal (TensorFlow flushes those to zero)."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def arrays(shape, low: float = -10.0, high: float = 10.0) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of the given shape (or shape strategy) with entries in [low, high]."""
    return hnp.arrays(np.float64, shape, elements=floats(low, high))


def float32_arrays(shape, low: float, high: float) -> st.SearchStrategy[np.ndarray]:
    """float32 arrays (for exact comparisons with Keras) with normal entries in [low, high]."""
    elements = st.floats(low, high, width=32, allow_nan=False, allow_subnormal=False)
    return hnp.arrays(np.float32, shape, elements=elements)


def shapes(min_dims: int = 1, max_dims: int = 3, max_side: int = 6):
    """Array shapes with every side at least 1."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


@st.composite
def logits_and_labels(draw, low: float = -10.0, high: float = 10.0):
    """Logits (n, k) with k >= 2 and sparse labels (n,) in 0..k-1."""
    n = draw(st.integers(1, 8))
    k = draw(st.integers(2, 6))
    logits = draw(arrays((n, k), low, high))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, k - 1)))
    return logits, labels


def as_float32(x: np.ndarray) -> np.ndarray:
    """x rounded to float32 (what Keras computes with), returned as float64."""
    return np.asarray(x, dtype=np.float32).astype(np.float64)


def tape_gradient(fn, z: np.ndarray) -> np.ndarray:
    """d sum(fn(z)) / dz computed by tf.GradientTape in float64."""
    variable = tf.constant(z, dtype=tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(variable)
        total = tf.reduce_sum(fn(variable))
    return tape.gradient(total, variable).numpy()


# --- activations ---------------------------------------------------------------------------------

ACTIVATIONS = {
    "sigmoid": (theory.sigmoid, theory.sigmoid_grad, keras.activations.sigmoid),
    "tanh": (theory.tanh, theory.tanh_grad, tf.math.tanh),
    "relu": (theory.relu, theory.relu_grad, keras.activations.relu),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@SETTINGS
@given(z=arrays(shapes(), -1000.0, 1000.0))
def test_activation_matches_tensorflow_and_keeps_the_shape(name, z):
    ours, _, reference = ACTIVATIONS[name]
    expected = np.asarray(reference(tf.constant(z, dtype=tf.float64)))
    got = ours(z)
    assert got.shape == z.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@SETTINGS
@given(z=arrays(shapes(), -50.0, 50.0))
def test_activation_gradient_matches_gradient_tape(name, z):
    _, ours, reference = ACTIVATIONS[name]
    expected = tape_gradient(reference, z)
    np.testing.assert_allclose(ours(z), expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)


def test_sigmoid_is_finite_and_warning_free_at_plus_minus_1000():
    z = np.array([-1000.0, -745.0, 0.0, 745.0, 1000.0])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        s, grad = theory.sigmoid(z), theory.sigmoid_grad(z)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(grad))
    np.testing.assert_array_equal(s[[0, 2, 4]], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(grad[[0, 4]], [0.0, 0.0])


def test_relu_gradient_is_zero_at_zero_like_tensorflow():
    z = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(theory.relu_grad(z), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(tape_gradient(tf.nn.relu, z), [0.0, 0.0, 1.0])


@SETTINGS
@given(z=arrays(shapes(), -5.0, 5.0), threshold=floats(-5.0, 5.0))
def test_step_is_one_at_or_above_the_threshold_and_zero_below(z, threshold):
    out = theory.step(z, threshold)
    assert out.dtype == np.float64 and out.shape == z.shape
    np.testing.assert_array_equal(out, np.where(z >= threshold, 1.0, 0.0))


# --- perceptron ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gate", [AND, OR], ids=["AND", "OR"])
def test_perceptron_converges_on_and_and_or_and_then_predicts_every_example(gate):
    fit = theory.perceptron_fit(BOOLEAN_INPUTS, gate)
    assert fit.converged
    assert fit.errors[-1] == 0 and all(e > 0 for e in fit.errors[:-1])
    predictions = theory.perceptron_predict(BOOLEAN_INPUTS, fit.w, fit.b)
    assert predictions.dtype.kind == "i"
    np.testing.assert_array_equal(predictions, gate)


def test_perceptron_does_not_converge_on_xor_within_max_epochs():
    fit = theory.perceptron_fit(BOOLEAN_INPUTS, XOR, max_epochs=50)
    assert not fit.converged
    assert len(fit.errors) == 50 and min(fit.errors) > 0
    assert np.any(theory.perceptron_predict(BOOLEAN_INPUTS, fit.w, fit.b) != XOR)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 40), d=st.integers(1, 4))
def test_perceptron_converges_on_a_linearly_separable_random_set(seed, n, d):
    rng = np.random.default_rng(seed)
    w_true = rng.normal(size=d)
    b_true = rng.uniform(-0.5, 0.5) * np.linalg.norm(w_true)
    x = rng.uniform(-1.0, 1.0, size=(n, d))
    margin = np.abs(x @ w_true + b_true) / np.linalg.norm(w_true)
    x = x[margin >= 0.1]
    y = (x @ w_true + b_true > 0).astype(int)
    # Novikoff's bound: at most (R / gamma)^2 < 700 updates here, so 1000 epochs are enough.
    fit = theory.perceptron_fit(x, y, max_epochs=1000)
    assert fit.converged
    assert fit.errors[-1] == 0
    np.testing.assert_array_equal(theory.perceptron_predict(x, fit.w, fit.b), y)


def test_perceptron_fit_is_frozen():
    fit = theory.perceptron_fit(BOOLEAN_INPUTS, AND)
    with pytest.raises(AttributeError):
        fit.b = 1.0


# --- softmax -------------------------------------------------------------------------------------


@st.composite
def array_and_axis(draw, low: float = -10.0, high: float = 10.0):
    """An array with 1 to 3 dimensions and a valid axis of it (negative or not)."""
    z = draw(arrays(shapes(), low, high))
    axis = draw(st.integers(-z.ndim, z.ndim - 1))
    return z, axis


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis:UserWarning")
@SETTINGS
@given(case=array_and_axis(-1e4, 1e4))
def test_softmax_matches_keras_along_any_axis_even_for_huge_logits(case):
    z, axis = case
    expected = np.asarray(keras.activations.softmax(tf.constant(z, dtype=tf.float64), axis=axis))
    got = theory.softmax(z, axis=axis)
    assert got.shape == z.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)
    np.testing.assert_allclose(got.sum(axis=axis), 1.0, rtol=RTOL_FLOAT64)


def test_softmax_stays_finite_where_the_naive_formula_overflows():
    z = np.array([[1e4, 0.0, -1e4], [1e4, 1e4, 0.0]])
    with np.errstate(over="ignore", invalid="ignore"):
        naive = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert np.isnan(naive).any()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        got = theory.softmax(z)
    np.testing.assert_allclose(got, [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]], atol=ATOL_FLOAT64)


@SETTINGS
@given(case=array_and_axis(), shift=floats(-1e3, 1e3))
def test_softmax_is_invariant_to_adding_a_constant(case, shift):
    z, axis = case
    np.testing.assert_allclose(
        theory.softmax(z + shift, axis=axis), theory.softmax(z, axis=axis), atol=ATOL_FLOAT64
    )


@SETTINGS
@given(z=arrays(st.tuples(st.integers(1, 4), st.integers(2, 6))), temperature=floats(0.05, 20.0))
def test_softmax_with_temperature_is_keras_softmax_of_the_scaled_logits(z, temperature):
    scaled = tf.constant(z / temperature, dtype=tf.float64)
    expected = np.asarray(keras.activations.softmax(scaled))
    got = theory.softmax(z, temperature=temperature)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)


@SETTINGS
@given(z=arrays(st.tuples(st.integers(1, 4), st.integers(2, 6))), low=floats(0.01, 10.0))
def test_softmax_largest_probability_shrinks_as_temperature_grows(z, low):
    sharp = theory.softmax(z, temperature=low).max(axis=-1)
    flat = theory.softmax(z, temperature=2 * low).max(axis=-1)
    assert np.all(sharp >= flat - 1e-12)


def test_softmax_is_uniform_at_high_temperature_and_one_hot_at_low():
    z = np.array([1.0, 2.0, 3.0, 2.5, -4.0])
    np.testing.assert_allclose(theory.softmax(z, temperature=1e6), np.full(5, 0.2), atol=1e-5)
    np.testing.assert_allclose(theory.softmax(z, temperature=1e-2), [0, 0, 1, 0, 0], atol=1e-12)


@SETTINGS
@given(a=arrays(shapes(max_dims=2), -30.0, 30.0), b=arrays(st.just(()), -30.0, 30.0))
def test_two_class_softmax_equals_sigmoid_of_the_difference(a, b):
    pair = np.stack([a, np.broadcast_to(b, a.shape)], axis=-1)
    np.testing.assert_allclose(
        theory.softmax(pair)[..., 0], theory.sigmoid(a - b), rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64
    )


@SETTINGS
@given(case=array_and_axis(-1e4, 1e4))
def test_logsumexp_and_log_softmax_match_tensorflow_even_for_huge_logits(case):
    z, axis = case
    tensor = tf.constant(z, dtype=tf.float64)
    expected_lse = np.asarray(tf.math.reduce_logsumexp(tensor, axis=axis))
    expected_log_softmax = np.asarray(tf.nn.log_softmax(tensor, axis=axis))
    lse = theory.logsumexp(z, axis=axis)
    assert lse.shape == expected_lse.shape
    np.testing.assert_allclose(lse, expected_lse, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)
    np.testing.assert_allclose(
        theory.log_softmax(z, axis=axis), expected_log_softmax, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64
    )


@SETTINGS
@given(case=logits_and_labels())
def test_one_hot_matches_tf_one_hot(case):
    logits, labels = case
    k = logits.shape[1]
    expected = np.asarray(tf.one_hot(labels, k, dtype=tf.float64))
    np.testing.assert_array_equal(theory.one_hot(labels, k), expected)


# --- cross-entropy -------------------------------------------------------------------------------


@SETTINGS
@given(case=logits_and_labels(-5.0, 5.0))
def test_cross_entropy_with_sparse_labels_matches_keras(case):
    logits, labels = case
    probs = as_float32(theory.softmax(logits))
    expected = float(keras.losses.SparseCategoricalCrossentropy()(labels, probs))
    got = theory.cross_entropy(probs, labels)
    assert isinstance(got, float)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32)


@SETTINGS
@given(case=logits_and_labels(-30.0, 30.0))
def test_cross_entropy_teaching_code_equals_the_library_metric(case):
    """The chapters' from-scratch cross-entropy and `evaluation.cross_entropy` agree, clip too."""
    logits, labels = case
    probs = theory.softmax(logits)
    np.testing.assert_allclose(
        theory.cross_entropy(probs, labels), evaluation.cross_entropy(probs, labels), rtol=1e-14
    )


@SETTINGS
@given(case=logits_and_labels(-5.0, 5.0), soft=st.booleans())
def test_cross_entropy_with_one_hot_or_soft_targets_matches_keras(case, soft):
    logits, labels = case
    k = logits.shape[1]
    probs = as_float32(theory.softmax(logits))
    targets = theory.one_hot(labels, k)
    if soft:
        targets = as_float32(theory.softmax(logits[::-1] + 3 * targets))
    expected = float(keras.losses.CategoricalCrossentropy()(targets, probs))
    got = theory.cross_entropy(probs, targets)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32)


@SETTINGS
@given(case=logits_and_labels(-1e4, 1e4), one_hot=st.booleans())
def test_cross_entropy_from_logits_matches_keras_and_stays_finite_for_huge_logits(case, one_hot):
    logits, labels = case
    logits = as_float32(logits)
    if one_hot:
        targets = theory.one_hot(labels, logits.shape[1])
        expected = float(keras.losses.CategoricalCrossentropy(from_logits=True)(targets, logits))
    else:
        targets = labels
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        expected = float(loss(labels, logits))
    got = theory.cross_entropy_from_logits(logits, targets)
    assert math.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32)


def test_cross_entropy_from_logits_is_finite_at_plus_minus_1e4():
    logits = np.array([[1e4, -1e4], [-1e4, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert theory.cross_entropy_from_logits(logits, np.array([0, 1])) == 0.0
        assert theory.cross_entropy_from_logits(logits, np.array([1, 0])) == 2e4


@SETTINGS
@given(case=logits_and_labels(-20.0, 20.0), one_hot=st.booleans())
def test_cross_entropy_grad_matches_gradient_tape_of_the_mean_loss(case, one_hot):
    logits, labels = case
    variable = tf.constant(logits, dtype=tf.float64)
    targets = theory.one_hot(labels, logits.shape[1])
    with tf.GradientTape() as tape:
        tape.watch(variable)
        if one_hot:
            per_example = tf.nn.softmax_cross_entropy_with_logits(targets, variable)
        else:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, variable)
        loss = tf.reduce_mean(per_example)
    expected = tape.gradient(loss, variable).numpy()
    got = theory.cross_entropy_grad(logits, targets if one_hot else labels)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)
    np.testing.assert_allclose(
        theory.cross_entropy_from_logits(logits, labels),
        float(loss),
        rtol=RTOL_FLOAT64,
        atol=ATOL_FLOAT64,
    )


@SETTINGS
@given(case=logits_and_labels())
def test_cross_entropy_is_a_mean_so_repeating_the_batch_leaves_it_unchanged(case):
    logits, labels = case
    probs = theory.softmax(logits)
    twice_probs, twice_labels = np.concatenate([probs, probs]), np.concatenate([labels, labels])
    np.testing.assert_allclose(
        theory.cross_entropy(twice_probs, twice_labels), theory.cross_entropy(probs, labels)
    )
    np.testing.assert_allclose(
        theory.cross_entropy_from_logits(np.concatenate([logits, logits]), twice_labels),
        theory.cross_entropy_from_logits(logits, labels),
    )


def test_cross_entropy_clips_zero_probabilities_to_eps():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    expected = (-math.log(1e-12) - math.log(0.5)) / 2
    assert theory.cross_entropy(probs, np.array([1, 0])) == pytest.approx(expected)


# --- L2 penalty ----------------------------------------------------------------------------------


@FEW
@given(
    kernel=arrays(st.tuples(st.integers(1, 6), st.integers(1, 6)), -3.0, 3.0),
    lam=floats(1e-6, 1.0),
)
def test_l2_penalty_equals_the_losses_of_a_keras_dense_layer_with_l2(kernel, lam):
    kernel = as_float32(kernel)
    n_in, n_out = kernel.shape
    layer = keras.layers.Dense(n_out, kernel_regularizer=keras.regularizers.L2(lam))
    layer(np.zeros((1, n_in), dtype=np.float32))
    layer.set_weights([kernel, np.ones(n_out)])
    expected = float(sum(np.asarray(loss) for loss in layer.losses))
    got = theory.l2_penalty([kernel], lam)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32 * lam)


def test_l2_penalty_sums_over_all_weight_arrays_without_a_half():
    weights = [np.array([[1.0, 2.0]]), np.array([3.0])]
    assert theory.l2_penalty(weights, 0.1) == pytest.approx(1.4)
    assert theory.l2_penalty(weights, 0.0) == 0.0


# --- convolution ---------------------------------------------------------------------------------


@st.composite
def conv_cases(draw, max_channels: int = 3):
    """An NHWC batch, kernels (kh, kw, c_in, c_out), a stride and a padding that fit together."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding = draw(st.sampled_from(["valid", "same"]))
    low_h, low_w = (kh, kw) if padding == "valid" else (1, 1)
    h, w = draw(st.integers(low_h, low_h + 8)), draw(st.integers(low_w, low_w + 8))
    n, c_in, c_out = (draw(st.integers(1, c)) for c in (2, max_channels, max_channels))
    x = draw(arrays((n, h, w, c_in), -1.0, 1.0))
    kernels = draw(arrays((kh, kw, c_in, c_out), -1.0, 1.0))
    stride = draw(st.integers(1, 3))
    return x, kernels, stride, padding


def expected_shape(x, kernels, stride, padding):
    """The NHWC output shape that conv_output_size predicts."""
    n, h, w, _ = x.shape
    kh, kw, _, c_out = kernels.shape
    size = theory.conv_output_size
    return (n, size(h, kh, stride, padding), size(w, kw, stride, padding), c_out)


@SETTINGS
@given(case=conv_cases())
def test_conv2d_matches_tf_nn_conv2d_and_conv_output_size_gives_its_shape(case):
    x, kernels, stride, padding = case
    expected = tf.nn.conv2d(x, kernels, strides=stride, padding=padding.upper()).numpy()
    got = theory.conv2d(x, kernels, stride=stride, padding=padding)
    assert got.shape == expected.shape == expected_shape(x, kernels, stride, padding)
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT64, atol=ATOL_FLOAT64)


@FEW
@given(case=conv_cases(), bias=arrays(st.just(3), -1.0, 1.0))
def test_conv2d_with_bias_matches_keras_conv2d_with_the_same_weights(case, bias):
    x, kernels, stride, padding = (as_float32(v) if isinstance(v, np.ndarray) else v for v in case)
    bias = as_float32(bias[: kernels.shape[3]])
    kh, kw, _, c_out = kernels.shape
    layer = keras.layers.Conv2D(c_out, (kh, kw), strides=stride, padding=padding)
    layer.build((None, *x.shape[1:]))
    layer.set_weights([kernels, bias])
    expected = np.asarray(layer(x.astype(np.float32)))
    got = theory.conv2d(x, kernels, bias, stride=stride, padding=padding)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32)


def test_conv2d_of_one_image_without_a_batch_axis_is_the_batched_result():
    rng = np.random.default_rng(0)
    x, kernels, bias = rng.normal(size=(6, 5, 2)), rng.normal(size=(3, 2, 2, 4)), rng.normal(size=4)
    single = theory.conv2d(x, kernels, bias, stride=2, padding="same")
    assert single.shape == (3, 3, 4)
    np.testing.assert_array_equal(
        single, theory.conv2d(x[None], kernels, bias, stride=2, padding="same")[0]
    )


def test_conv2d_is_cross_correlation_not_flipped_convolution():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    kernel = np.zeros((3, 3, 1, 1))
    kernel[0, 0] = 1.0
    assert theory.conv2d(x, kernel).item() == 0.0  # a flipped kernel would pick x[2, 2] = 8


@pytest.mark.parametrize(
    ("n", "kernel", "stride", "expected"),
    [
        (28, 3, 1, (1, 1)),
        (28, 2, 2, (0, 0)),
        (5, 2, 1, (0, 1)),
        (6, 3, 2, (0, 1)),
        (7, 4, 3, (1, 2)),
    ],
)
def test_same_padding_puts_the_odd_pixel_after_like_tensorflow(n, kernel, stride, expected):
    assert theory.same_padding(n, kernel, stride) == expected


@SETTINGS
@given(
    x=float32_arrays(
        st.tuples(st.integers(1, 2), st.integers(3, 10), st.integers(3, 10), st.integers(1, 3)),
        -1e3,
        1e3,
    ),
    size=st.integers(1, 3),
    stride=st.one_of(st.none(), st.integers(1, 3)),
    padding=st.sampled_from(["valid", "same"]),
)
def test_max_pool2d_matches_keras_max_pooling2d_exactly(x, size, stride, padding):
    layer = keras.layers.MaxPooling2D(pool_size=size, strides=stride, padding=padding)
    expected = np.asarray(layer(x))
    got = theory.max_pool2d(x, size, stride, padding)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_param_counts_reproduce_the_seed_cnn_keras_model():
    model = build_seed_cnn()
    size, channels, counts = 28, 1, []
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "Conv2D":
            counts.append(theory.conv_param_count(3, 3, channels, layer.filters))
            size, channels = theory.conv_output_size(size, 3, 1, "same"), layer.filters
        elif kind == "MaxPooling2D":
            counts.append(0)
            size = theory.conv_output_size(size, 2, 2, "valid")
        elif kind == "Flatten":
            counts.append(0)
            channels = size * size * channels
        else:
            counts.append(theory.dense_param_count(channels, layer.units))
            channels = layer.units
    assert counts == [layer.count_params() for layer in model.layers]
    assert sum(counts) == model.count_params() == 224_714
    assert theory.conv_param_count(3, 3, 16, 32, bias=False) == 4608
    assert theory.dense_param_count(784, 10, bias=False) == 7840


def test_receptive_fields_of_the_conv_pool_stack():
    assert theory.receptive_fields([(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)]) == [3, 4, 8, 10, 18]
    assert theory.receptive_fields([]) == []


@SETTINGS
@given(layers=st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=6))
def test_receptive_field_is_the_smallest_input_a_valid_stack_maps_to_one_unit(layers):
    field = theory.receptive_fields(layers)[-1]
    size = field
    for kernel, stride in layers:
        size = theory.conv_output_size(size, kernel, stride, "valid")
    assert size == 1
    x = np.zeros((1, field, field, 1))
    for kernel, stride in layers:
        x = theory.conv2d(x, np.ones((kernel, kernel, 1, 1)), stride=stride)
    assert x.shape == (1, 1, 1, 1)


# --- a small MLP ---------------------------------------------------------------------------------


def tiny_problem(seed: int = 0):
    """A 3-5-4-3 network and 6 examples with sparse labels."""
    rng = np.random.default_rng(seed)
    params = theory.init_mlp((3, 5, 4, 3), seed=seed)
    params = [(w, rng.normal(scale=0.1, size=b.shape)) for w, b in params]
    return params, rng.normal(size=(6, 3)), rng.integers(0, 3, size=6)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / (||a|| + ||b||), 0 when both are 0."""
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale else 0.0


@pytest.mark.parametrize("lam", [0.0, 0.05])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mlp_backward_matches_numerical_gradient(lam, seed):
    params, x, labels = tiny_problem(seed)
    _, cache = theory.mlp_forward(params, x)
    grads = theory.mlp_backward(params, cache, labels, lam)
    assert [(dw.shape, db.shape) for dw, db in grads] == [(w.shape, b.shape) for w, b in params]
    for (w, b), (dw, db) in zip(params, grads, strict=True):
        for array, analytic in ((w, dw), (b, db)):
            numeric = theory.numerical_gradient(
                lambda: theory.mlp_loss(params, x, labels, lam), array
            )
            assert relative_error(analytic, numeric) < GRAD_CHECK_RTOL


def test_mlp_loss_with_lam_is_cross_entropy_plus_l2_penalty_of_the_weights():
    params, x, labels = tiny_problem()
    probs, _ = theory.mlp_forward(params, x)
    expected = theory.cross_entropy(probs, labels) + theory.l2_penalty([w for w, _ in params], 0.1)
    assert theory.mlp_loss(params, x, labels, lam=0.1) == pytest.approx(expected, rel=1e-12)
    assert theory.mlp_loss(params, x, labels) == pytest.approx(theory.cross_entropy(probs, labels))


@FEW
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(lambda s: [*s[:-1], s[-1] + 1]),
    seed=st.integers(0, 1000),
)
def test_mlp_forward_matches_a_keras_sequential_with_the_same_weights(sizes, seed):
    params = [(as_float32(w), as_float32(b + 0.1)) for w, b in theory.init_mlp(sizes, seed)]
    x = as_float32(np.random.default_rng(seed).normal(size=(5, sizes[0])))
    layers = [keras.layers.Dense(n, activation="relu") for n in sizes[1:-1]]
    model = keras.Sequential(
        [keras.Input((sizes[0],)), *layers, keras.layers.Dense(sizes[-1], activation="softmax")]
    )
    model.set_weights([array for layer in params for array in layer])
    expected = np.asarray(model(x.astype(np.float32)))
    probs, cache = theory.mlp_forward(params, x)
    assert probs.shape == (5, sizes[-1]) and len(cache) == len(params)
    np.testing.assert_allclose(probs, expected, rtol=RTOL_FLOAT32, atol=ATOL_FLOAT32)
    np.testing.assert_array_equal(theory.mlp_predict(params, x), np.argmax(probs, axis=1))


def blobs(n: int, seed: int):
    """Three well-separated Gaussian blobs in 2-d with labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centres = np.array([[3.0, 0.0], [-3.0, 0.0], [0.0, 3.0]])
    labels = rng.integers(0, 3, size=n)
    return centres[labels] + rng.normal(scale=0.5, size=(n, 2)), labels


def test_train_mlp_reduces_the_loss_on_a_separable_problem():
    x, labels = blobs(120, 0)
    x_val, y_val = blobs(60, 1)
    before = theory.mlp_loss(theory.init_mlp((2, 8, 3), seed=0), x, labels, lam=1e-4)
    params, history = theory.train_mlp(
        x, labels, (2, 8, 3), epochs=10, batch_size=16, lr=0.1, lam=1e-4, x_val=x_val, y_val=y_val
    )
    assert list(history.columns) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert list(history.index) == list(range(1, 11)) and history.index.name == "epoch"
    assert history["loss"].iloc[-1] < 0.5 * history["loss"].iloc[0]
    assert theory.mlp_loss(params, x, labels, lam=1e-4) < 0.2 * before
    assert history["val_accuracy"].iloc[-1] > 0.95
    assert np.mean(theory.mlp_predict(params, x_val) == y_val) == history["val_accuracy"].iloc[-1]


def test_train_mlp_is_reproducible_for_a_seed_and_has_no_val_columns_without_val_data():
    x, labels = blobs(40, 2)
    runs = [theory.train_mlp(x, labels, (2, 4, 3), epochs=2, batch_size=8, lr=0.1) for _ in "ab"]
    assert list(runs[0][1].columns) == ["loss", "accuracy"]
    for (w0, b0), (w1, b1) in zip(runs[0][0], runs[1][0], strict=True):
        np.testing.assert_array_equal(w0, w1)
        np.testing.assert_array_equal(b0, b1)


def test_init_mlp_draws_he_normal_weights_and_zero_biases():
    params = theory.init_mlp((784, 128, 10), seed=3)
    assert [(w.shape, b.shape) for w, b in params] == [((784, 128), (128,)), ((128, 10), (10,))]
    assert params[0][0].std() == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert all(np.all(b == 0) for _, b in params)


def test_sgd_step_returns_new_params_and_leaves_its_inputs_unchanged():
    params = [(np.ones((2, 2)), np.zeros(2))]
    grads = [(np.full((2, 2), 2.0), np.ones(2))]
    new = theory.sgd_step(params, grads, lr=0.5)
    np.testing.assert_array_equal(new[0][0], np.zeros((2, 2)))
    np.testing.assert_array_equal(new[0][1], np.full(2, -0.5))
    np.testing.assert_array_equal(params[0][0], np.ones((2, 2)))
    np.testing.assert_array_equal(params[0][1], np.zeros(2))


def test_numerical_gradient_differentiates_a_cubic_and_restores_the_array():
    array = np.array([[1.0, -2.0], [0.5, 3.0]])
    original = array.copy()
    grad = theory.numerical_gradient(lambda: float(np.sum(array**3)), array)
    np.testing.assert_allclose(grad, 3 * original**2, rtol=1e-8)
    np.testing.assert_array_equal(array, original)


# --- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: theory.sigmoid("abc"), "z must be an array of numbers"),
        (lambda: theory.perceptron_fit(BOOLEAN_INPUTS, np.array([0, 1, 2, 1])), "y must hold"),
        (lambda: theory.perceptron_fit(BOOLEAN_INPUTS, AND[:3]), "y must have one label"),
        (lambda: theory.perceptron_fit(BOOLEAN_INPUTS, AND, max_epochs=0), "max_epochs"),
        (lambda: theory.softmax(np.ones(3), temperature=0.0), "temperature"),
        (lambda: theory.one_hot(np.array([0, 3]), 3), "labels must be class indices in 0..2"),
        (lambda: theory.cross_entropy(np.ones((2, 3)) / 3, np.array([0.5, 1])), "labels"),
        (lambda: theory.cross_entropy(np.ones((2, 3)) / 3, np.ones((2, 2))), "labels as targets"),
        (lambda: theory.cross_entropy(np.ones(3), np.array([0])), "probs must be a 2-d"),
        (lambda: theory.l2_penalty([np.ones(2)], -1.0), "lam"),
        (lambda: theory.conv_output_size(2, 3), "kernel"),
        (lambda: theory.conv_output_size(5, 3, padding="full"), "padding"),
        (lambda: theory.conv2d(np.ones((1, 4, 4, 2)), np.ones((3, 3, 3, 1))), "kernels"),
        (lambda: theory.conv2d(np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 2)), np.ones(3)), "bias"),
        (lambda: theory.conv2d(np.ones((4, 4)), np.ones((3, 3, 1, 1))), "x must be a 3-d or 4-d"),
        (lambda: theory.max_pool2d(np.ones((1, 4, 4, 1)), stride=0), "stride"),
        (lambda: theory.receptive_fields([(3, 1, 1)]), r"layers\[0\]"),
        (lambda: theory.init_mlp((784,)), "sizes"),
        (lambda: theory.mlp_forward(theory.init_mlp((3, 2)), np.ones((1, 4))), "x must have 3"),
        (lambda: theory.numerical_gradient(float, [1.0]), "array must be a float NumPy array"),
        (
            lambda: theory.train_mlp(
                np.ones((4, 2)), AND, (2, 2), epochs=1, batch_size=2, lr=0.1, x_val=np.ones((1, 2))
            ),
            "x_val and y_val",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
