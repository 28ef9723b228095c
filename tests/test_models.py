import keras
import numpy as np
import pytest

from fmnist_lib.models import (
    build_mlp_equal_widths,
    build_model,
    build_modern_cnn,
    build_seed_cnn,
    build_seed_mlp,
    builder,
    builder_code,
    dense_stack,
)
from fmnist_lib.registry import (
    CNN_CONSTANT_FILTERS,
    EQUAL_WIDTH,
    MLP_EQUAL_WIDTHS,
    MLP_L2_1E4,
    MODELS,
    MODERN_CNN,
    CNNDesign,
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
def test_models_take_their_registered_input_and_output_ten_probabilities(name):
    spec = get_model_spec(name)
    model = build_model(spec)
    assert model.input_shape[1:] == spec.input_shape
    x = np.random.default_rng(0).random((3, *spec.input_shape), dtype=np.float32)
    p = np.asarray(model(x))
    assert p.shape == (3, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_models_compute_in_their_registered_precision(name):
    from fmnist_lib.training import model_precision

    spec = get_model_spec(name)
    assert model_precision(build_model(spec)) == spec.precision


def test_report_model_keys_hash_their_builders_alone():
    # A variant's key also hashes the helper its builder calls; a report model's hashes only its
    # own builder.
    from fmnist_lib.cache import source_hash

    assert builder_code(get_model_spec("seed-mlp")) == (build_seed_mlp,)
    assert builder_code(get_model_spec("seed-cnn")) == (build_seed_cnn,)
    assert builder_code(get_model_spec(MLP_EQUAL_WIDTHS)) == (build_mlp_equal_widths, dense_stack)
    assert source_hash(build_seed_mlp) != source_hash(build_mlp_equal_widths, dense_stack)


def test_the_modern_family_is_built_from_its_registered_design():
    for name, spec in MODELS.items():
        if spec.design is None:
            continue
        built = builder(spec)
        assert built.func is build_modern_cnn and built.args == (spec.design,), name
        assert not built.keywords


def test_a_spec_without_a_builder_is_refused_by_name():
    import dataclasses

    stray = dataclasses.replace(get_model_spec("seed-mlp"), name="seed-transformer")
    with pytest.raises(ValueError, match="no builder for model 'seed-transformer'"):
        builder(stray)


def test_mlp_variants_differ_from_the_report_mlp_in_one_named_way():
    seed = build_seed_mlp()
    equal = build_model(get_model_spec(MLP_EQUAL_WIDTHS))
    strong = build_model(get_model_spec(MLP_L2_1E4))
    widths = [layer.units for layer in equal.layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [EQUAL_WIDTH] * 3 + [10]
    # Equal widths at the pyramid's parameter count, within 0.5%.
    assert abs(equal.count_params() / seed.count_params() - 1) < 0.005
    assert [w.shape for w in strong.weights] == [w.shape for w in seed.weights]
    l2 = [float(layer.kernel_regularizer.l2) for layer in strong.layers[1:]]
    assert l2 == pytest.approx([1e-4] * 4)


def test_cnn_variant_has_constant_filters_and_the_report_cnn_otherwise():
    seed, constant = build_seed_cnn(), build_model(get_model_spec(CNN_CONSTANT_FILTERS))
    conv = [layer.filters for layer in constant.layers if isinstance(layer, keras.layers.Conv2D)]
    assert conv == [32, 32, 32]
    kinds = [type(layer) for layer in constant.layers]
    assert kinds == [type(layer) for layer in seed.layers]


def test_modern_cnn_computes_in_mixed_bfloat16_with_a_float32_softmax():
    model = build_model(get_model_spec(MODERN_CNN))
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in conv] == [32, 32, 64, 64]
    assert all(layer.dtype_policy.name == "mixed_bfloat16" for layer in conv)
    assert model.layers[-1].dtype_policy.name == "float32"


def test_the_modern_cnns_layers_follow_its_design():
    def kinds(design):
        return [type(layer).__name__ for layer in build_modern_cnn(design).layers]

    full = kinds(CNNDesign())
    assert full[:2] == ["RandomTranslation", "RandomFlip"] and full.count("Conv2D") == 4
    assert full.count("BatchNormalization") == 5 and full.count("Dropout") == 3
    assert "BatchNormalization" not in kinds(CNNDesign(batch_norm=False))
    assert "Dropout" not in kinds(CNNDesign(dropout=0.0))
    assert kinds(CNNDesign(shift_px=0, flip=False))[0] == "Conv2D"
    assert "RandomErasing" in kinds(CNNDesign(erase=True))
    assert kinds(CNNDesign(widths=(16, 32, 64))).count("Conv2D") == 6
    model = build_modern_cnn(CNNDesign())
    assert model.layers[-1].dtype_policy.name == "float32"
    assert model.layers[2].dtype_policy.name == "mixed_bfloat16"
