import dataclasses
import subprocess
import sys

import pytest

from fmnist_lib.registry import (
    CNN_CONSTANT_FILTERS,
    MLP_EQUAL_WIDTHS,
    MLP_L2_1E4,
    MODELS,
    MODERN_ABLATIONS,
    MODERN_CNN,
    Ablation,
    CNNDesign,
    Recipe,
    get_model_spec,
    report_model_names,
)


def test_the_registry_the_cli_and_the_shards_import_without_tensorflow_or_keras():
    code = (
        "import sys\n"
        "import fmnist_lib.registry, fmnist_lib.cli, fmnist_lib.shards\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert process.stdout.strip() == "[]"


def test_registry_holds_the_reports_training_settings():
    mlp, cnn = get_model_spec("seed-mlp"), get_model_spec("seed-cnn")
    assert (mlp.learning_rate, mlp.epochs, mlp.batch_size) == (1e-4, 20, 32)
    assert (cnn.learning_rate, cnn.epochs, cnn.batch_size) == (1e-3, 10, 32)
    assert (mlp.input_shape, cnn.input_shape) == ((28, 28), (28, 28, 1))


def test_unknown_model_name_lists_the_known_ones():
    with pytest.raises(ValueError) as raised:
        get_model_spec("resnet")
    listed = str(raised.value).split("choose one of: ")[1].split(", ")
    assert listed == sorted(MODELS)
    assert {"seed-mlp", "seed-cnn", "modern-cnn", "modern-cnn-no-flip"} <= set(listed)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_cli_takes_every_registered_model(name):
    from fmnist_lib.cli import build_parser

    assert build_parser().parse_args(["train", name]).model == name


def test_report_models_are_float32_without_a_recipe_or_a_design():
    assert report_model_names() == ("seed-mlp", "seed-cnn")
    for name in report_model_names():
        spec = get_model_spec(name)
        assert spec.variant_of is None and spec.recipe is None and spec.design is None
        assert spec.precision == "float32"


def settings(spec):
    """What a spec says beside its name, description and `variant_of`."""
    fields = dataclasses.asdict(spec)
    return {k: v for k, v in fields.items() if k not in ("name", "description", "variant_of")}


def test_variants_keep_their_report_models_settings():
    for name in (MLP_EQUAL_WIDTHS, MLP_L2_1E4, CNN_CONSTANT_FILTERS):
        spec = get_model_spec(name)
        assert spec.variant_of in report_model_names()
        assert settings(spec) == settings(get_model_spec(spec.variant_of))
    assert get_model_spec(MLP_L2_1E4).variant_of == get_model_spec(MLP_EQUAL_WIDTHS).variant_of


def test_modern_cnn_is_registered_with_a_design_a_recipe_and_mixed_precision():
    spec = get_model_spec(MODERN_CNN)
    assert spec.design == CNNDesign() and spec.recipe == Recipe() and spec.variant_of is None
    assert spec.precision == "bfloat16" and spec.input_shape == (28, 28, 1)
    assert MODERN_CNN not in report_model_names()


def test_each_ablation_changes_exactly_one_ingredient_of_the_modern_cnn():
    full = get_model_spec(MODERN_CNN)
    full_fields = {**dataclasses.asdict(full.design), **dataclasses.asdict(full.recipe)}
    for name, ablation in MODERN_ABLATIONS.items():
        assert isinstance(ablation, Ablation)
        spec = get_model_spec(name)
        assert spec.variant_of == MODERN_CNN and name not in report_model_names()
        assert (spec.design, spec.recipe) == (ablation.design, ablation.recipe)
        assert spec.description == f"the modern CNN {ablation.change}"
        fields = {**dataclasses.asdict(spec.design), **dataclasses.asdict(spec.recipe)}
        changed = [k for k in fields if fields[k] != full_fields[k]]
        assert len(changed) == 1, (name, changed)
        same = ("learning_rate", "epochs", "batch_size", "input_shape", "precision")
        assert [getattr(spec, k) for k in same] == [getattr(full, k) for k in same]


def test_a_designs_repr_is_what_the_cache_keys_hash():
    # A modern run's key hashes the repr of its design (`cache.source_hash` of a partial): a new
    # field, a renamed one or another order would change every modern CNN's key.
    assert repr(CNNDesign()) == (
        "CNNDesign(widths=(32, 64), batch_norm=True, dropout=0.25, shift_px=2, flip=True, "
        "erase=False)"
    )


def test_recipe_settings_are_checked():
    with pytest.raises(ValueError, match="label_smoothing"):
        Recipe(label_smoothing=1.0)
    with pytest.raises(ValueError, match="ema_momentum"):
        Recipe(ema_momentum=1.0)
    with pytest.raises(ValueError, match="cosine must be True or False"):
        Recipe(cosine=0)


def test_a_bad_design_is_rejected_with_the_field_named():
    with pytest.raises(ValueError, match="widths"):
        CNNDesign(widths=())
    with pytest.raises(ValueError, match="dropout"):
        CNNDesign(dropout=1.0)
    with pytest.raises(ValueError, match="shift_px"):
        CNNDesign(shift_px=-1)
    with pytest.raises(ValueError, match="flip"):
        CNNDesign(flip=1)


def test_a_spec_in_an_unknown_precision_is_refused():
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        dataclasses.replace(get_model_spec(MODERN_CNN), precision="float16")
