import dataclasses
import json
import math
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pandas as pd
import pytest

from fmnist_lib import provenance, training
from fmnist_lib.cache import is_complete as has_files
from fmnist_lib.data import load_fashion_mnist
from fmnist_lib.training import (
    ENTRY_FILES,
    LOOP,
    PLAIN_LOOP,
    Loop,
    RunConfig,
    default_config,
    list_runs,
    load_model,
    load_test_probabilities,
    run,
    run_key,
)


def is_complete(folder):
    """Whether a folder holds every file of a finished training run."""
    return has_files(folder, ENTRY_FILES)


SMALL = RunConfig(model="seed-mlp", epochs=2, batch_size=32, learning_rate=1e-3, train_subset=512)
METRIC_COLUMNS = ["loss", "accuracy", "val_loss", "val_accuracy"]


def test_default_config_takes_the_reports_settings_and_overrides():
    config = default_config("seed-cnn", seed=3, epochs=None)
    settings = (config.epochs, config.learning_rate, config.batch_size, config.seed)
    assert settings == (10, 1e-3, 32, 3)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", -1),
        ("seed", -2),
        ("learning_rate", 5.0),
        ("train_subset", 55_001),
        ("train_subset", True),
        ("seed", False),
        ("learning_rate", float("nan")),
        ("epochs", 1.5),
        ("model", "nope"),
    ],
)
def test_run_config_rejects_bad_values_naming_the_field(field, value):
    settings = {"model": "seed-mlp", "epochs": 1, "batch_size": 32, "learning_rate": 1e-3}
    settings[field] = value
    with pytest.raises(ValueError, match=field if field != "model" else "unknown model"):
        RunConfig(**settings)


def test_run_config_stores_numpy_numbers_as_plain_ones_with_the_same_key():
    config = RunConfig("seed-mlp", np.int64(1), np.int32(32), np.float64(1e-3), np.int64(2))
    assert type(config.epochs) is int and type(config.learning_rate) is float
    assert run_key(config) == run_key(RunConfig("seed-mlp", 1, 32, 1e-3, 2))


def test_run_key_changes_with_every_config_field():
    keys = {
        run_key(SMALL),
        run_key(RunConfig(**{**SMALL.__dict__, "seed": 1})),
        run_key(RunConfig(**{**SMALL.__dict__, "epochs": 3})),
        run_key(RunConfig(**{**SMALL.__dict__, "train_subset": None})),
        run_key(RunConfig(**{**SMALL.__dict__, "learning_rate": 1e-4})),
        run_key(RunConfig(**{**SMALL.__dict__, "threads": 1})),
        run_key(RunConfig(**{**SMALL.__dict__, "threads": 2})),
    }
    assert len(keys) == 7


def test_a_run_on_the_process_threads_keeps_the_key_it_had_before_threads_were_a_field():
    spec = training.get_model_spec(SMALL.model)
    fields = {k: v for k, v in dataclasses.asdict(SMALL).items() if k != "threads"}
    before = training.entry_key(
        SMALL.model,
        fields,
        builders=training.builder_code(spec),
        code_version=training.TRAINING_CODE_VERSION,
        libraries={"keras": keras.__version__},
    )
    assert run_key(SMALL) == before != run_key(dataclasses.replace(SMALL, threads=1))


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_a_thread_count_that_is_not_a_positive_int_is_refused_by_name(threads):
    with pytest.raises(ValueError, match="threads"):
        dataclasses.replace(SMALL, threads=threads)


def test_a_run_pinned_to_other_threads_than_the_processes_trains_in_a_child_that_has_them(
    tmp_path, real_data_dir, monkeypatch
):
    """The child's pools have the pinned count (its metrics record it), the entry is whole, and
    the parent's own pools are untouched."""
    before = training.pool_sizes()
    pinned = dataclasses.replace(SMALL, epochs=1, train_subset=256, threads=before[0] + 1)
    children = []
    real_run = subprocess.run
    monkeypatch.setattr(
        training.subprocess, "run", lambda *a, **k: children.append(a) or real_run(*a, **k)
    )
    result = run(pinned, cache_dir=tmp_path, quiet=True)
    assert len(children) == 1 and is_complete(result.folder)
    recorded = (result.metrics["intra_op_threads"], result.metrics["inter_op_threads"])
    assert recorded == (pinned.threads, pinned.threads)
    assert training.pool_sizes() == before
    assert json.loads((result.folder / "config.json").read_text())["threads"] == pinned.threads


def test_a_run_pinned_to_the_processes_own_threads_trains_in_it(
    tmp_path, real_data_dir, monkeypatch
):
    own = training.pool_sizes()
    if own[0] != own[1]:
        pytest.skip("this process's intra- and inter-op pools differ in size")
    pinned = dataclasses.replace(SMALL, epochs=1, train_subset=256, threads=own[0])

    def no_child(*args, **kwargs):
        raise AssertionError("a run pinned to the process's own threads started a child")

    monkeypatch.setattr(training, "train_in_child", no_child)
    result = run(pinned, cache_dir=tmp_path, quiet=True)
    assert result.metrics["intra_op_threads"] == result.metrics["inter_op_threads"] == own[0]


def test_a_failing_child_run_raises_with_its_last_error_line_and_leaves_no_entry(tmp_path):
    pinned = dataclasses.replace(SMALL, threads=training.pool_sizes()[0] + 1)
    with pytest.raises(RuntimeError, match=r"in a process of its own failed .*(FileNotFound|data)"):
        run(pinned, cache_dir=tmp_path / "cache", data_dir=tmp_path / "no-data", quiet=True)
    assert not (tmp_path / "cache" / pinned.key()).exists()


def test_a_run_config_is_a_cache_entry_config_with_its_key_files_and_label():
    assert SMALL.key() == run_key(SMALL) and SMALL.entry_files == ENTRY_FILES
    assert "entry_files" not in dataclasses.asdict(SMALL)  # a class constant, not in the key
    assert SMALL.label() == "seed-mlp, seed 0, 2 epochs, 512 images"
    assert dataclasses.replace(SMALL, epochs=1, train_subset=None).label() == (
        "seed-mlp, seed 0, 1 epoch"
    )
    assert dataclasses.replace(SMALL, threads=2).label().endswith("512 images, 2 threads")
    assert dataclasses.replace(SMALL, threads=1).label().endswith("512 images, 1 thread")


def test_run_writes_a_complete_entry_and_reports_metrics(results, real_data_dir):
    result = run(SMALL, quiet=True)
    assert not result.from_cache
    assert result.folder == (results / run_key(SMALL)).resolve()
    assert is_complete(result.folder)
    assert list(result.history.index) == [1, 2]
    assert {*METRIC_COLUMNS, "time_s"} <= set(result.history.columns)
    assert 0.0 < result.test_accuracy <= 1.0 and result.test_loss > 0
    assert result.samples_per_s > 0 and result.wall_time_s > 0
    metrics = json.loads((result.folder / "metrics.json").read_text())
    assert metrics["n_train"] == 512 and metrics["n_val"] == 5000 and metrics["n_test"] == 10000
    assert json.loads((result.folder / "config.json").read_text())["train_subset"] == 512
    assert not [p for p in results.iterdir() if p.name.startswith(".partial")]


def test_run_keeps_the_best_epoch_weights_and_its_test_metrics(results, real_data_dir):
    config = RunConfig(**{**SMALL.__dict__, "epochs": 4})
    result = run(config, quiet=True)
    assert result.best_epoch == int(result.history["val_accuracy"].idxmax())
    assert result.metrics["best_val_accuracy"] == result.history["val_accuracy"].max()
    _, (x_test, y_test) = load_fashion_mnist(real_data_dir)
    x = x_test.astype("float32") / 255
    best = load_model(result, weights="best")
    _, best_accuracy = best.evaluate(x, y_test, verbose=0)
    assert best_accuracy == pytest.approx(result.metrics["best_test_accuracy"], abs=1e-6)
    with pytest.raises(ValueError, match="weights"):
        load_model(result, weights="first")


def test_test_loss_is_cross_entropy_plus_the_l2_term(results, real_data_dir):
    metrics = run(SMALL, quiet=True).metrics
    assert metrics["test_l2_penalty"] > 0
    total = metrics["test_cross_entropy"] + metrics["test_l2_penalty"]
    assert metrics["test_loss"] == pytest.approx(total, rel=1e-4)


def test_cached_test_probabilities_reproduce_the_test_accuracy(results, real_data_dir):
    result = run(SMALL, quiet=True)
    probabilities = load_test_probabilities(result)
    _, (_, y_test) = load_fashion_mnist(real_data_dir)
    assert probabilities.shape == (10_000, 10)
    accuracy = (probabilities.argmax(axis=1) == y_test).mean()
    assert accuracy == pytest.approx(result.test_accuracy, abs=1e-6)


def test_list_runs_finds_every_complete_run_and_ignores_partial_ones(results, real_data_dir):
    other = RunConfig(**{**SMALL.__dict__, "seed": 3})
    run(SMALL, quiet=True)
    run(other, quiet=True)
    (results / ".partial-seed-mlp-x").mkdir()
    (results / "seed-mlp-damaged").mkdir()
    assert [r.config for r in list_runs()] == [SMALL, other]


def test_same_config_gives_bit_identical_histories(tmp_path, real_data_dir):
    first = run(SMALL, cache_dir=tmp_path / "a", quiet=True)
    second = run(SMALL, cache_dir=tmp_path / "b", quiet=True)
    assert not second.from_cache
    pd.testing.assert_frame_equal(
        first.history[METRIC_COLUMNS], second.history[METRIC_COLUMNS], check_exact=True
    )
    assert first.test_loss == second.test_loss


def test_different_seeds_give_different_histories(tmp_path, real_data_dir):
    first = run(SMALL, cache_dir=tmp_path, quiet=True)
    other = run(RunConfig(**{**SMALL.__dict__, "seed": 1}), cache_dir=tmp_path, quiet=True)
    assert not first.history["loss"].equals(other.history["loss"])


def test_cache_hit_returns_the_stored_result_without_training(results, real_data_dir, monkeypatch):
    trained = run(SMALL, quiet=True)

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained again although a complete entry exists")

    monkeypatch.setattr(training, "train_into", must_not_train)
    cached = run(SMALL, quiet=True)
    assert cached.from_cache
    assert cached.test_accuracy == trained.test_accuracy
    pd.testing.assert_frame_equal(cached.history, trained.history)
    assert load_model(cached).count_params() == 550_385


def test_a_damaged_entry_is_retrained_not_returned(results, real_data_dir):
    first = run(SMALL, quiet=True)
    (first.folder / "model.keras").unlink()
    again = run(SMALL, quiet=True)
    assert not again.from_cache and is_complete(again.folder)
    assert again.test_loss == first.test_loss


def test_a_run_interrupted_while_writing_leaves_no_entry(results, real_data_dir, monkeypatch):
    def interrupted_save(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        run(SMALL, quiet=True)
    assert not (results / run_key(SMALL)).exists()
    assert list(results.iterdir()) == []


def test_a_killed_training_process_leaves_no_complete_entry(tmp_path, real_data_dir):
    env = {**os.environ, "FMNIST_RESULTS_DIR": str(tmp_path)}
    command = [
        sys.executable,
        "-m",
        "fmnist_lib",
        "train",
        "seed-mlp",
        "--epochs",
        "50",
        "--subset",
        "2000",
    ]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            if "epoch 1/50" in line:
                break
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert folders, "the run should have started writing a temporary entry"
    assert not any(is_complete(p) for p in folders)
    assert all(p.name.startswith(".partial-") for p in folders)
    config = default_config("seed-mlp", epochs=50, train_subset=2000)
    assert not (tmp_path / run_key(config)).exists()


def test_progress_prints_one_line_per_epoch_unless_quiet(tmp_path, real_data_dir, capsys):
    run(SMALL, cache_dir=tmp_path, quiet=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if " epoch " in line]
    assert [line.split(":")[0] for line in lines] == ["seed-mlp epoch 1/2", "seed-mlp epoch 2/2"]
    run(RunConfig(**{**SMALL.__dict__, "seed": 5}), cache_dir=tmp_path, quiet=True)
    assert capsys.readouterr().out == ""


def test_cnn_runs_on_images_with_a_channel_axis(tmp_path, real_data_dir):
    config = RunConfig(
        model="seed-cnn", epochs=1, batch_size=64, learning_rate=1e-3, train_subset=256
    )
    result = run(config, cache_dir=tmp_path, quiet=True)
    assert load_model(result).input_shape == (None, 28, 28, 1)


# Each setting of the project's loop, switched back to plain Keras one at a time. The MLP's run
# takes the real path of `steps_per_execution`: 2,100 images are 66 batches of 32 a epoch, two
# whole calls of 32 steps and a partial one; the CNN's 300 images fit in one partial call.
LOOP_SETTINGS = [field.name for field in dataclasses.fields(Loop)]
IDENTITY_RUNS = {
    "seed-mlp": RunConfig(
        "seed-mlp", epochs=2, batch_size=32, learning_rate=1e-3, train_subset=2100
    ),
    "seed-cnn": RunConfig(
        "seed-cnn", epochs=2, batch_size=32, learning_rate=1e-3, train_subset=300
    ),
}


def trained_entry(config, loop, folder):
    """Train `config` into `folder` with `loop`: what it wrote; how often it scored the test set."""
    folder.mkdir(parents=True)
    evaluations = []
    evaluate = training._evaluate
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, "_evaluate", lambda *a: evaluations.append(1) or evaluate(*a))
        training.train_into(config, folder, data_dir=None, quiet=True, loop=loop)
    metrics = json.loads((folder / "metrics.json").read_text())
    best = keras.models.load_model(folder / "model.keras")
    best.load_weights(folder / "best.weights.h5")
    return {
        "history": pd.read_csv(folder / "history.csv", index_col="epoch").drop(columns="time_s"),
        "metrics": {k: v for k, v in metrics.items() if k not in ("wall_time_s", "samples_per_s")},
        "weights": keras.models.load_model(folder / "model.keras").get_weights(),
        "best_weights": best.get_weights(),
        "probabilities": np.load(folder / "test_probabilities.npy"),
        "val_losses": np.load(folder / "val_losses.npy"),
        "l2_penalty": float(sum(float(p) for p in keras.models.load_model(
            folder / "model.keras").losses)),
        "test_evaluations": len(evaluations),
    }


@pytest.fixture(scope="module")
def project_loop_entries(tmp_path_factory, real_data_dir):
    """Each identity run trained once with the project's loop, LOOP."""
    root = tmp_path_factory.mktemp("loop")
    return {model: trained_entry(c, LOOP, root / model) for model, c in IDENTITY_RUNS.items()}


def test_the_project_loop_differs_from_plain_keras_in_every_setting():
    assert all(getattr(LOOP, name) != getattr(PLAIN_LOOP, name) for name in LOOP_SETTINGS)
    assert LOOP.steps_per_execution == 32
    mlp = IDENTITY_RUNS["seed-mlp"]
    calls, partial = divmod(math.ceil(mlp.train_subset / mlp.batch_size), LOOP.steps_per_execution)
    assert calls >= 2 and partial > 0  # whole calls and a partial one, as a full run has


@pytest.mark.parametrize("setting", LOOP_SETTINGS)
@pytest.mark.parametrize("model", list(IDENTITY_RUNS))
def test_each_loop_setting_leaves_history_weights_and_test_metrics_bit_identical(
    model, setting, project_loop_entries, tmp_path
):
    plain_in_one = dataclasses.replace(LOOP, **{setting: getattr(PLAIN_LOOP, setting)})
    fast = project_loop_entries[model]
    slow = trained_entry(IDENTITY_RUNS[model], plain_in_one, tmp_path / "entry")
    pd.testing.assert_frame_equal(fast["history"], slow["history"], check_exact=True)
    for weights in ("weights", "best_weights"):
        assert all(np.array_equal(a, b) for a, b in zip(fast[weights], slow[weights], strict=True))
    assert fast["metrics"] == slow["metrics"]
    assert np.array_equal(fast["probabilities"], slow["probabilities"])
    if setting == "reuse_best_evaluation":  # the check means something only when best is last
        assert fast["metrics"]["best_epoch"] == IDENTITY_RUNS[model].epochs
        assert (fast["test_evaluations"], slow["test_evaluations"]) == (1, 2)


def test_val_losses_hold_each_images_cross_entropy_after_every_epoch(project_loop_entries):
    entry = project_loop_entries["seed-mlp"]
    losses, history = entry["val_losses"], entry["history"]
    assert losses.shape == (IDENTITY_RUNS["seed-mlp"].epochs, 5_000) and losses.dtype == np.float32
    assert np.all(losses >= 0) and not np.array_equal(losses[0], losses[-1])
    # Keras's last val_loss is the mean cross-entropy of the last epoch plus the L2 term.
    total = losses[-1].astype(np.float64).mean() + entry["l2_penalty"]
    assert total == pytest.approx(history["val_loss"].iloc[-1], rel=1e-4)


def test_recording_val_losses_changes_no_weight_and_no_history(
    project_loop_entries, tmp_path, monkeypatch
):
    def record_nothing(val, val_losses, spent):
        return keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: val_losses.append(np.zeros(1, np.float32))
        )

    monkeypatch.setattr(training, "_val_losses_callback", record_nothing)
    without = trained_entry(IDENTITY_RUNS["seed-mlp"], LOOP, tmp_path / "entry")
    with_losses = project_loop_entries["seed-mlp"]
    pd.testing.assert_frame_equal(with_losses["history"], without["history"], check_exact=True)
    for weights in ("weights", "best_weights"):
        pairs = zip(with_losses[weights], without[weights], strict=True)
        assert all(np.array_equal(a, b) for a, b in pairs)


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [({"steps_per_execution": 0}, "steps_per_execution"), ({"reuse_best_evaluation": 1}, "reuse")],
)
def test_loop_rejects_bad_settings_naming_them(settings, fragment):
    with pytest.raises(ValueError, match=fragment):
        Loop(**settings)


def test_metrics_record_the_provenance_and_a_cached_run_shows_its_own(results, real_data_dir):
    result = run(SMALL, quiet=True)
    assert set(provenance.FIELDS) <= set(result.metrics)
    assert result.metrics["precision"] == "float32"  # the report's models are float32
    here = provenance.probe()
    assert (result.metrics["device"], result.metrics["isa"]) == (here["device"], here["isa"])
    elsewhere = {**result.metrics, "device": "Other CPU", "intra_op_threads": 7}
    (result.folder / "metrics.json").write_text(json.dumps(elsewhere))
    again = run(SMALL, quiet=True)
    assert again.from_cache and again.key == result.key
    assert provenance.describe(again.metrics)["device"] == "Other CPU"
    assert provenance.describe(again.metrics)["threads"].startswith("7 intra-op")
    # A run cached before provenance was recorded still loads, and says so.
    older = {
        k: v for k, v in result.metrics.items() if k not in here or k in ("keras", "tensorflow")
    }
    (result.folder / "metrics.json").write_text(json.dumps(older))
    cached = run(SMALL, quiet=True)
    assert cached.from_cache and cached.test_loss == result.test_loss
    assert provenance.describe(cached.metrics)["device"] == provenance.NOT_RECORDED


def test_a_recipe_enters_the_cache_key_and_a_report_model_has_none(monkeypatch):
    from types import MappingProxyType

    from fmnist_lib import registry

    config = training.default_config(registry.MODERN_CNN)
    key = training.run_key(config)
    spec = registry.MODELS[registry.MODERN_CNN]
    changed = dataclasses.replace(spec, recipe=registry.Recipe(label_smoothing=0.0))
    monkeypatch.setattr(
        registry, "MODELS", MappingProxyType({**registry.MODELS, spec.name: changed})
    )
    assert training.run_key(config) != key
    assert registry.get_model_spec(registry.SEED_CNN).recipe is None


def test_recipe_optimizer_warms_up_to_the_peak_then_decays_to_zero():
    config = training.default_config("modern-cnn", epochs=4, train_subset=1280, batch_size=128)
    recipe = training.get_model_spec("modern-cnn").recipe
    optimizer = training.recipe_optimizer(config, recipe)
    steps = 4 * 10
    warmup = int(steps * recipe.warmup_fraction)
    schedule = optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(0.0, abs=1e-12)
    assert float(schedule(warmup)) == pytest.approx(config.learning_rate, rel=1e-5)
    assert float(schedule(steps)) == pytest.approx(0.0, abs=1e-9)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.weight_decay == pytest.approx(recipe.weight_decay)


def test_a_recipe_run_trains_on_one_hot_targets_and_writes_a_whole_entry(
    tmp_path, real_data_dir, monkeypatch
):
    full = training.prepare_data

    def small(*args, **kwargs):  # 500 validation and test images keep the test quick
        return {name: (x[:500], y[:500]) for name, (x, y) in full(*args, **kwargs).items()}

    monkeypatch.setattr(training, "prepare_data", small)
    # Float32, as on a CPU without bfloat16 hardware: the choice is recorded with the run.
    monkeypatch.setenv("FMNIST_PRECISION", "float32")
    config = training.default_config("modern-cnn", epochs=1, train_subset=256)
    result = training.run(config, cache_dir=tmp_path, data_dir=real_data_dir, quiet=True)
    assert is_complete(result.folder)
    assert result.metrics["precision"] == "float32"
    assert provenance.describe(result.metrics)["precision"] == "float32"
    assert list(result.history.columns[:4]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    probabilities = training.load_test_probabilities(result)
    _, (_, y_test) = load_fashion_mnist(real_data_dir)
    y_test = y_test[:500]
    assert probabilities.shape == (len(y_test), 10)
    assert (probabilities.argmax(1) == y_test).mean() == pytest.approx(result.test_accuracy)
    model = training.compiled_model(config)
    assert training.targets(model, np.array([2, 0])).tolist() == np.eye(10)[[2, 0]].tolist()
    # The cached model.keras re-evaluates to the cached accuracy (what `report --json` shows).
    saved = training.load_model(result)
    assert training.model_precision(saved) == "float32"
    x_test = small(config, (28, 28, 1), real_data_dir)["test"][0]
    _, again = saved.evaluate(x_test, training.targets(saved, y_test), verbose=0)
    assert again == pytest.approx(result.test_accuracy, abs=1e-7)


def test_recipe_without_cosine_holds_the_peak_after_the_warm_up():
    from fmnist_lib import registry

    config = training.default_config("modern-cnn-constant-lr", epochs=4, train_subset=1280)
    recipe = registry.get_model_spec("modern-cnn-constant-lr").recipe
    assert recipe.cosine is False
    schedule = training.recipe_optimizer(config, recipe)._learning_rate
    warmup = int(40 * recipe.warmup_fraction)
    assert float(schedule(0)) == pytest.approx(0.0, abs=1e-12)
    for step in (warmup, 20, 40):
        assert float(schedule(step)) == pytest.approx(config.learning_rate, rel=1e-5)


def test_float32_copy_computes_every_layer_in_float32_with_the_same_shape():
    from fmnist_lib import models, registry

    mixed = models.build_model(registry.get_model_spec(registry.MODERN_CNN))
    plain = training.float32_copy(mixed)
    assert plain.count_params() == mixed.count_params()
    assert {layer.dtype_policy.name for layer in plain.layers} == {"float32"}
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in mixed.layers)
    config = training.default_config(registry.MODERN_CNN)
    model = training.compiled_model(config, precision="float32")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert training.model_precision(model) == "float32"
    assert training.model_precision(training.compiled_model(config, precision="bfloat16")) == (
        "bfloat16"
    )
    # The report's models are float32 as registered, whatever is asked.
    report = training.compiled_model(
        training.default_config(registry.SEED_CNN), precision="bfloat16"
    )
    assert training.model_precision(report) == "float32"
    with pytest.raises(ValueError, match="precision must be one of float32, bfloat16"):
        training.compiled_model(config, precision="float16")


def test_an_auto_run_trains_in_the_machines_precision_and_a_bad_setting_is_refused(
    monkeypatch,
):
    from fmnist_lib import precision, registry

    config = training.default_config(registry.MODERN_CNN)
    monkeypatch.setenv("FMNIST_PRECISION", "auto")
    expected = precision.choose_precision("auto", provenance.probe()["isa"])
    assert training.model_precision(training.compiled_model(config)) == expected
    monkeypatch.setenv("FMNIST_PRECISION", "half")
    with pytest.raises(ValueError, match="FMNIST_PRECISION='half' is not a precision"):
        training.compiled_model(config)


def test_core_minutes_are_wall_time_times_threads_and_nan_when_not_recorded(tmp_path):
    import math

    result = training.RunResult(
        config=training.default_config("seed-mlp"),
        key="k",
        folder=tmp_path,
        history=None,
        test_loss=0.0,
        test_accuracy=0.0,
        best_epoch=1,
        wall_time_s=600.0,
        samples_per_s=1.0,
        metrics={"intra_op_threads": 2},
        from_cache=True,
    )
    assert training.core_minutes(result) == 20.0
    assert math.isnan(training.core_minutes(dataclasses.replace(result, metrics={})))


def test_a_loop_switch_that_is_not_true_or_false_is_refused_by_name():
    with pytest.raises(ValueError, match="reuse_best_evaluation must be True or False, got 1"):
        training.Loop(reuse_best_evaluation=1)


def test_epoch_order_is_a_fresh_permutation_every_epoch_and_repeatable():
    orders = [training.epoch_order(3, epoch, 50) for epoch in range(3)]
    assert all(sorted(order) == list(range(50)) for order in orders)
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])
    assert np.array_equal(orders[1], training.epoch_order(3, 1, 50))
    assert not np.array_equal(orders[0], training.epoch_order(4, 0, 50))


class _Recorder(keras.layers.Layer):
    """Passes its input through, keeping what it saw in training (eager runs only)."""

    def __init__(self):
        super().__init__()
        self.seen = []  # Keras tracks it: read it back from the layer

    def call(self, x, training=None):
        if training:
            self.seen.append(np.asarray(x)[:, 0].astype(int).tolist())
        return x


def test_fit_visits_the_training_images_in_each_epochs_own_order(tmp_path):
    recorder, n = _Recorder(), 12
    model = keras.Sequential(
        [keras.Input((1,)), recorder, keras.layers.Dense(10, activation="softmax")]
    )
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    x = np.arange(n, dtype="float32").reshape(n, 1)
    data = {"train": (x, np.arange(n) % 10), "val": (x[:4], np.arange(4))}
    config = RunConfig("seed-mlp", epochs=3, batch_size=n, learning_rate=0.1, seed=5)
    history, _, val_losses = training.fit(model, config, data, tmp_path / "best.weights.h5")
    assert list(recorder.seen) == [training.epoch_order(5, e, n).tolist() for e in range(3)]
    assert list(history.index) == [1, 2, 3] and val_losses.shape == (3, 4)


def test_keras_fit_under_a_global_seed_repeats_one_order_and_our_fit_does_not():
    orders = training.keras_fit_orders(12, 3, seed=0)
    assert len(orders) == 3 and sorted(orders[0]) == list(range(12))
    assert orders[0] != list(range(12))  # shuffled, but the same way in every epoch:
    assert orders[0] == orders[1] == orders[2]
    ours = [training.epoch_order(0, epoch, 12).tolist() for epoch in range(3)]
    assert ours[0] != ours[1] != ours[2]
