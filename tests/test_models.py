import numpy as np
import pytest

from fmnist_lib.models import (
    MODELS,
    build_seed_cnn,
    build_seed_mlp,
    get_model_spec,
)


def test_seed_mlp_has_the_reports_550385_parameters():
    assert build_seed_mlp().count_params() == 550_385


def test_seed_cnn_has_the_reports_224714_parameters():
    assert build_seed_cnn().count_params() == 224_714


def test_seed_mlp_layer_widths_and_l2_on_every_dense_layer():
    dense = [layer for layer in build_seed_mlp().layers if layer.__class__.__name__ == "Dense"]
    assert [layer.units for layer in dense] == [500, 250, 125, 10]
    assert all(float(layer.kernel_regularizer.l2) == pytest.approx(1e-5) for layer in dense)


def test_seed_cnn_regularizes_only_its_dense_layers():
    layers = build_seed_cnn().layers
    conv = [layer for layer in layers if layer.__class__.__name__ == "Conv2D"]
    dense = [layer for layer in layers if layer.__class__.__name__ == "Dense"]
    assert [layer.filters for layer in conv] == [16, 32, 64]
    assert all(layer.kernel_regularizer is None for layer in conv)
    assert all(float(layer.kernel_regularizer.l2) == pytest.approx(1e-4) for layer in dense)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_output_a_probability_distribution_over_ten_classes(name):
    model = get_model_spec(name).build()
    x = np.random.default_rng(0).random((3, *model.input_shape[1:]), dtype=np.float32)
    p = np.asarray(model(x))
    assert p.shape == (3, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


def test_registry_holds_the_reports_training_settings():
    mlp, cnn = get_model_spec("seed-mlp"), get_model_spec("seed-cnn")
    assert (mlp.learning_rate, mlp.epochs, mlp.batch_size) == (1e-4, 20, 32)
    assert (cnn.learning_rate, cnn.epochs, cnn.batch_size) == (1e-3, 10, 32)


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="seed-cnn, seed-mlp"):
        get_model_spec("resnet")


def test_cli_model_names_match_the_registry():
    from fmnist_lib.cli import MODEL_NAMES

    assert sorted(MODEL_NAMES) == sorted(MODELS)
