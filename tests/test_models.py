import keras
import numpy as np
import pytest

from fmnist_lib.models import (
    CNN_CONSTANT_FILTERS,
    EQUAL_WIDTH,
    MLP_EQUAL_WIDTHS,
    MLP_L2_1E4,
    MODELS,
    build_mlp_equal_widths,
    build_seed_cnn,
    build_seed_mlp,
    dense_stack,
    get_model_spec,
    report_model_names,
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
    with pytest.raises(ValueError) as raised:
        get_model_spec("resnet")
    listed = str(raised.value).split("choose one of: ")[1].split(", ")
    assert listed == sorted(MODELS)
    assert {"seed-mlp", "seed-cnn", "modern-cnn", "modern-cnn-no-flip"} <= set(listed)


def test_cli_model_names_match_the_registry():
    from fmnist_lib.cli import MODEL_NAMES

    assert sorted(MODEL_NAMES) == sorted(MODELS)


def test_report_model_keys_are_unchanged_by_the_variants():
    # The variants add `parts` to the key; a report model has none, so its cached runs stay valid.
    from fmnist_lib.cache import source_hash

    for name in report_model_names():
        assert get_model_spec(name).parts == ()
        assert get_model_spec(name).variant_of is None
    assert source_hash(build_seed_mlp) != source_hash(build_mlp_equal_widths, dense_stack)


def test_mlp_variants_differ_from_the_report_mlp_in_one_named_way():
    seed = build_seed_mlp()
    equal = get_model_spec(MLP_EQUAL_WIDTHS).build()
    strong = get_model_spec(MLP_L2_1E4).build()
    widths = [layer.units for layer in equal.layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [EQUAL_WIDTH] * 3 + [10]
    # Equal widths at the pyramid's parameter count, within 0.5%.
    assert abs(equal.count_params() / seed.count_params() - 1) < 0.005
    assert [w.shape for w in strong.weights] == [w.shape for w in seed.weights]
    l2 = [float(layer.kernel_regularizer.l2) for layer in strong.layers[1:]]
    assert l2 == pytest.approx([1e-4] * 4)
    assert get_model_spec(MLP_L2_1E4).variant_of == get_model_spec(MLP_EQUAL_WIDTHS).variant_of


def test_cnn_variant_has_constant_filters_and_the_report_cnn_otherwise():
    seed, constant = build_seed_cnn(), get_model_spec(CNN_CONSTANT_FILTERS).build()
    conv = [layer.filters for layer in constant.layers if isinstance(layer, keras.layers.Conv2D)]
    assert conv == [32, 32, 32]
    kinds = [type(layer) for layer in constant.layers]
    assert kinds == [type(layer) for layer in seed.layers]
    spec, report = get_model_spec(CNN_CONSTANT_FILTERS), get_model_spec("seed-cnn")
    assert (spec.learning_rate, spec.epochs, spec.batch_size) == (
        report.learning_rate,
        report.epochs,
        report.batch_size,
    )


def test_modern_cnn_is_registered_with_a_recipe_and_mixed_precision():
    from fmnist_lib.models import MODERN_CNN, Recipe

    spec = get_model_spec(MODERN_CNN)
    assert isinstance(spec.recipe, Recipe) and spec.variant_of is None
    assert MODERN_CNN not in report_model_names()
    model = spec.build()
    conv = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in conv] == [32, 32, 64, 64]
    assert all(layer.dtype_policy.name == "mixed_bfloat16" for layer in conv)
    assert model.layers[-1].dtype_policy.name == "float32"


def test_recipe_settings_are_checked():
    from fmnist_lib.models import Recipe

    with pytest.raises(ValueError, match="label_smoothing"):
        Recipe(label_smoothing=1.0)
    with pytest.raises(ValueError, match="ema_momentum"):
        Recipe(ema_momentum=1.0)


def test_each_ablation_changes_exactly_one_ingredient_of_the_modern_cnn():
    import dataclasses

    from fmnist_lib.models import MODERN_ABLATIONS, MODERN_CNN, CNNDesign, Recipe

    full = get_model_spec(MODERN_CNN)
    full_fields = {**dataclasses.asdict(full.build.args[0]), **dataclasses.asdict(full.recipe)}
    assert full.build.args[0] == CNNDesign() and full.recipe == Recipe()
    for name in MODERN_ABLATIONS:
        spec = get_model_spec(name)
        assert spec.variant_of == MODERN_CNN and name not in report_model_names()
        fields = {**dataclasses.asdict(spec.build.args[0]), **dataclasses.asdict(spec.recipe)}
        changed = [k for k in fields if fields[k] != full_fields[k]]
        assert len(changed) == 1, (name, changed)
        assert (spec.epochs, spec.batch_size, spec.learning_rate) == (
            full.epochs,
            full.batch_size,
            full.learning_rate,
        )


def test_the_modern_cnns_layers_follow_its_design():
    from fmnist_lib.models import CNNDesign, build_modern_cnn

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


def test_a_bad_design_is_rejected_with_the_field_named():
    from fmnist_lib.models import CNNDesign

    with pytest.raises(ValueError, match="widths"):
        CNNDesign(widths=())
    with pytest.raises(ValueError, match="dropout"):
        CNNDesign(dropout=1.0)
    with pytest.raises(ValueError, match="shift_px"):
        CNNDesign(shift_px=-1)
    with pytest.raises(ValueError, match="flip"):
        CNNDesign(flip=1)
