import keras
import numpy as np
import pytest

from fmnist_lib import robustness


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.random((4, 28, 28)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(robustness.TRANSFORMS))
@pytest.mark.parametrize("shape", [(4, 28, 28), (4, 28, 28, 1)])
def test_every_transform_keeps_shape_dtype_range_and_leaves_its_input_alone(name, shape):
    x = np.random.default_rng(1).random(shape).astype(np.float32)
    before = x.copy()
    y = robustness.TRANSFORMS[name](x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0 and y.max() <= 1
    np.testing.assert_array_equal(x, before)
    assert not np.array_equal(y, x)  # every listed transform changes random images


def test_a_shift_of_zero_is_the_identity(images):
    np.testing.assert_array_equal(robustness.shift(images, 0, 0), images)


def test_shift_moves_content_and_fills_zeros(images):
    moved = robustness.shift(images, right=2, down=-1)
    np.testing.assert_array_equal(moved[:, :-1, 2:], images[:, 1:, :-2])
    assert not moved[:, :, :2].any() and not moved[:, -1, :].any()
    back = robustness.shift(moved, right=-2, down=1)
    np.testing.assert_array_equal(back[:, 1:, :-2], images[:, 1:, :-2])


def test_mirror_and_inversion_are_their_own_inverses(images):
    np.testing.assert_array_equal(robustness.mirror(images)[:, :, 0], images[:, :, -1])
    np.testing.assert_array_equal(robustness.mirror(robustness.mirror(images)), images)
    np.testing.assert_allclose(robustness.invert_contrast(images), 1 - images)
    np.testing.assert_allclose(
        robustness.invert_contrast(robustness.invert_contrast(images)), images, atol=1e-7
    )


def test_noise_has_the_asked_spread_is_seeded_and_zero_noise_changes_nothing():
    flat = np.full((50, 28, 28), 0.5, dtype=np.float32)
    noisy = robustness.gaussian_noise(flat, 0.1, seed=3)
    assert noisy.std() == pytest.approx(0.1, rel=0.02)
    np.testing.assert_array_equal(noisy, robustness.gaussian_noise(flat, 0.1, seed=3))
    assert not np.array_equal(noisy, robustness.gaussian_noise(flat, 0.1, seed=4))
    np.testing.assert_array_equal(robustness.gaussian_noise(flat, 0.0), flat)


def test_rotation_by_zero_is_the_identity_and_by_90_degrees_turns_the_image(images):
    np.testing.assert_allclose(robustness.rotate(images, 0.0), images, atol=1e-6)
    # anticlockwise on screen: the top row becomes the left column, read bottom to top
    turned = robustness.rotate(images, 90.0)
    np.testing.assert_allclose(turned, np.rot90(images, k=1, axes=(1, 2)), atol=1e-5)


def test_bad_input_is_rejected_with_the_reason():
    with pytest.raises(ValueError, match="shape"):
        robustness.mirror(np.zeros((28, 28)))
    with pytest.raises(ValueError, match="floats"):
        robustness.mirror(np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match="scaled"):
        robustness.mirror(np.full((1, 28, 28), 255.0))
    with pytest.raises(ValueError, match="sd"):
        robustness.gaussian_noise(np.zeros((1, 28, 28)), -0.1)
    with pytest.raises(ValueError, match="right"):
        robustness.shift(np.zeros((1, 28, 28)), right=40)


def test_transformed_accuracies_score_the_original_and_every_transform():
    import keras

    # A model that answers by the mean brightness of the image's left half: mirroring moves it.
    inputs = keras.Input((28, 28))
    left = keras.layers.Lambda(lambda x: keras.ops.mean(x[:, :, :14], axis=(1, 2)))(inputs)
    scores = keras.layers.Lambda(lambda m: keras.ops.stack([m, 0.5 * keras.ops.ones_like(m)], 1))(
        left
    )
    model = keras.Model(inputs, scores)
    images = np.zeros((4, 28, 28), np.float32)
    images[:2, :, :14] = 1.0  # bright on the left: class 0
    images[2:, :, 14:] = 1.0  # bright on the right: class 1
    labels = np.array([0, 0, 1, 1])
    transforms = {"mirrored": robustness.mirror, "unchanged": lambda x: x.copy()}
    scored = robustness.transformed_accuracies(model, images, labels, transforms)
    assert scored == {"original": 1.0, "mirrored": 0.0, "unchanged": 1.0}
    with pytest.raises(ValueError, match="labels"):
        robustness.transformed_accuracies(model, images, labels[:3], transforms)


def test_noise_accuracies_score_each_draw_and_the_draws_differ():
    import keras

    # Class 1 when the image's mean brightness passes 0.5: images at 0.5 fall either way,
    # decided by each draw's noise; images at 0.1 and 0.9 stay put under small noise.
    inputs = keras.Input((28, 28))
    mean = keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2)))(inputs)
    scores = keras.layers.Lambda(lambda m: keras.ops.stack([0.5 * keras.ops.ones_like(m), m], 1))(
        mean
    )
    model = keras.Model(inputs, scores)
    images = np.concatenate(
        [np.full((n, 28, 28), v, np.float32) for n, v in ((20, 0.1), (20, 0.9), (60, 0.5))]
    )
    labels = np.array([0] * 20 + [1] * 20 + [1] * 60)
    scored = robustness.noise_accuracies(model, images, labels, 0.05, draws=4)
    assert scored.shape == (4,)
    by_hand = [
        (
            np.asarray(model.predict(robustness.gaussian_noise(images, 0.05, s), verbose=0)).argmax(
                1
            )
            == labels
        ).mean()
        for s in range(4)
    ]
    np.testing.assert_array_equal(scored, by_hand)
    assert len(set(scored)) > 1  # each draw moves the borderline images differently
    assert all(0.4 < a < 1.0 for a in scored)
    with pytest.raises(ValueError, match="draws"):
        robustness.noise_accuracies(model, images, labels, 0.05, draws=0)


def test_unclipped_noise_is_the_table_noise_before_clipping():
    images = np.full((50, 28, 28), 0.5, dtype=np.float32)
    clipped = robustness.gaussian_noise(images, 0.05, seed=3)
    unclipped = robustness.unclipped_noise(images, 0.05, seed=3)
    inside = (unclipped > 0) & (unclipped < 1)
    assert inside.mean() > 0.99 and np.allclose(clipped[inside], unclipped[inside])
    assert abs(float((unclipped - images).mean())) < 1e-3  # zero mean
    zeros = np.zeros((1, 28, 28), dtype=np.float32)
    assert robustness.unclipped_noise(zeros, 0.1).min() < 0  # not clipped


def test_clipping_offset_is_the_mean_of_clipped_noise_by_hand_and_by_simulation():
    x = np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32)
    offset = robustness.clipping_offset(x, 0.1)[0, 0]
    # Background: E[max(e, 0)] = sd / sqrt(2 pi) for e ~ N(0, sd^2) (the tail past 1 is nil).
    assert offset[0] == pytest.approx(0.1 / np.sqrt(2 * np.pi), rel=1e-5)
    assert offset[1] == pytest.approx(0.5, abs=1e-6) and offset[2] == pytest.approx(
        1 - 0.1 / np.sqrt(2 * np.pi), rel=1e-5)
    rng = np.random.default_rng(0)
    draws = np.clip(x[0, 0] + rng.normal(0, 0.1, size=(200_000, 3)), 0, 1).mean(axis=0)
    assert np.allclose(offset, draws, atol=1e-3)


def test_foreground_noise_leaves_the_background_at_zero():
    images = np.zeros((4, 28, 28), dtype=np.float32)
    images[:, 10:18, 10:18] = 0.6
    noisy = robustness.foreground_noise(images, 0.1, seed=1)
    assert np.all(noisy[images == 0] == 0)
    assert np.array_equal(noisy[images > 0], robustness.gaussian_noise(images, 0.1, 1)[images > 0])


def test_variant_accuracies_score_the_clean_images_and_every_variant():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    images = np.random.default_rng(0).random((40, 28, 28)).astype(np.float32)
    labels = np.arange(40) % 10
    scores = robustness.variant_accuracies(model, images, labels, sd=0.1, draws=2)
    assert list(scores) == ["clean images", *robustness.NOISE_VARIANTS]
    clean = float((model.predict(images, verbose=0).argmax(1) == labels).mean())
    assert scores["clean images"] == clean and all(0 <= v <= 1 for v in scores.values())


def test_batchnorm_reestimated_takes_each_norms_statistics_from_its_inputs():
    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(3)
    model = keras.Sequential([keras.Input((4,)), dense, keras.layers.BatchNormalization(),
                              keras.layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(1000, 4)).astype(np.float32)
    before = [w.copy() for w in model.get_weights()]
    copy = robustness.batchnorm_reestimated(model, x)
    hidden = np.asarray(dense(x))
    norm_layer = copy.layers[1]
    assert np.allclose(norm_layer.moving_mean.numpy(), hidden.mean(axis=0), atol=1e-5)
    assert np.allclose(norm_layer.moving_variance.numpy(), hidden.var(axis=0), rtol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    with pytest.raises(ValueError, match="Sequential"):
        robustness.batchnorm_reestimated(keras.Model(model.inputs, model.outputs), x)


def test_noise_diagnosis_adds_a_float32_copy_and_batchnorm_rows_only_with_batchnorm():
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).random((30, 28, 28)).astype(np.float32)
    labels = np.arange(30) % 10
    plain = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    rows = robustness.noise_diagnosis(plain, images, labels, 0.1, 1, images)
    assert list(rows) == ["clean images", *robustness.NOISE_VARIANTS, "float32 copy, clipped noise"]
    # A float32 model's float32 copy scores exactly what the model does under the same noise.
    assert rows["float32 copy, clipped noise"] == rows["clipped noise (the table's)"]
    normed = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                               keras.layers.BatchNormalization(),
                               keras.layers.Dense(10, activation="softmax")])
    rows = robustness.noise_diagnosis(normed, images, labels, 0.1, 1, images)
    assert {
        "BatchNorm from noisy images, clipped noise",
        "BatchNorm from clean images, clipped noise",
        "BatchNorm from noisy images, clean images",
    } <= set(rows)
    assert all(0 <= value <= 1 for value in rows.values())
