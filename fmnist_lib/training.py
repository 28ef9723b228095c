"""Train a registered model on the report's 55,000/5,000 split, deterministically, cached on disk.

A run is described by a frozen `RunConfig`. Its results live in `results/<key>/`, where the key
follows the cache's one rule (`fmnist_lib.cache`): the config, the model's builder source, this
module's `TRAINING_CODE_VERSION` and the Keras version. `run` trains only when no complete entry
exists. An entry holds the config, the per-epoch history, the metrics, the final model, the
weights of the epoch with the best validation accuracy and the final model's test-set
probabilities, and its `metrics.json` records where it was computed (`fmnist_lib.provenance`)
and in which precision (`fmnist_lib.precision`: mixed bfloat16 only where the hardware has it).

A run may be pinned to a thread count (`RunConfig.threads`); where the running process's
thread pools have another size, it trains in a child process that has that count
(`train_in_child`), so that its numbers do not depend on who trains it.

How the loop executes is a `Loop`: `LOOP` is the project's, `PLAIN_LOOP` plain Keras. Each of
its settings makes training faster and none changes a number: tests/test_training.py trains with
and without each one and compares the history and the final weights bit for bit. So a `Loop` is
not part of the cache key, and changing one never calls for a new `TRAINING_CODE_VERSION`.
"""

import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fmnist_lib.cache import (
    ensure_entry,
    entry_key,
    is_complete,
    read_json,
    results_dir,
    write_json,
)
from fmnist_lib.data import (
    N_CLASSES,
    N_TRAIN,
    N_VALIDATION,
    load_fashion_mnist,
    split_validation,
    to_float,
)
from fmnist_lib.evaluation import EVALUATION_BATCH, cross_entropy, per_image_cross_entropy
from fmnist_lib.models import build_model, builder_code
from fmnist_lib.precision import PRECISIONS, machine_precision
from fmnist_lib.provenance import probe, thread_counts
from fmnist_lib.registry import Recipe, get_model_spec
from fmnist_lib.threads import tensorflow_threads, thread_environment
from fmnist_lib.validation import check_flag, check_scalar

# Bump when a change here (optimizer, loss, data order, evaluation, an entry's files) would change
# a run's numbers or what its entry holds. Version 3 added `val_losses.npy`.
TRAINING_CODE_VERSION = 3
ENTRY_FILES = (
    "config.json",
    "history.csv",
    "metrics.json",
    "model.keras",
    "best.weights.h5",
    "test_probabilities.npy",
    "val_losses.npy",
)


@dataclass(frozen=True)
class RunConfig:
    """One training run: which model, how long, on how much data, from which seed."""

    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int = 0
    train_subset: int | None = None
    # TensorFlow's intra- and inter-op pools (and BLAS's) for this run; None: the process's own.
    # Only a count given enters the key, so every other run keeps the key it had without it.
    threads: int | None = None
    entry_files: ClassVar[tuple[str, ...]] = ENTRY_FILES  # a cache.EntryConfig

    def __post_init__(self) -> None:
        get_model_spec(self.model)
        checked = {
            "epochs": check_scalar(self.epochs, "epochs", int, min_val=1),
            "batch_size": check_scalar(self.batch_size, "batch_size", int, min_val=1),
            "learning_rate": check_scalar(
                self.learning_rate,
                "learning_rate",
                float,
                min_val=0,
                max_val=1,
                include_boundaries="neither",
            ),
            "seed": check_scalar(self.seed, "seed", int, min_val=0),
            "train_subset": check_scalar(
                self.train_subset, "train_subset", int, min_val=1, max_val=N_TRAIN, allow_none=True
            ),
            "threads": check_scalar(self.threads, "threads", int, min_val=1, allow_none=True),
        }
        for name, value in checked.items():  # NumPy scalars become plain numbers, for the key
            object.__setattr__(self, name, value)

    def key(self) -> str:
        """The run's cache key (`run_key`)."""
        return run_key(self)

    def label(self) -> str:
        """The run in a few words for progress lines: model, seed, epochs, subset, threads."""
        epochs = f"{self.epochs} epoch{'' if self.epochs == 1 else 's'}"
        subset = "" if self.train_subset is None else f", {self.train_subset} images"
        plural = "" if self.threads == 1 else "s"
        threads = "" if self.threads is None else f", {self.threads} thread{plural}"
        return f"{self.model}, seed {self.seed}, {epochs}{subset}{threads}"

    def write_entry(
        self,
        folder: Path,
        data_dir: str | os.PathLike | None = None,
        quiet: bool = False,
        loop: "Loop | None" = None,
    ) -> None:
        """Train the run and write its cache entry into `folder` (`train_into`), in `loop`
        (by default the project's `LOOP`)."""
        train_into(self, folder, data_dir=data_dir, quiet=quiet, loop=loop or LOOP)


@dataclass(frozen=True)
class Loop:
    """How `fit` executes a run; faster settings that leave every number bit for bit the same."""

    # Training steps run per call into TensorFlow's graph (Keras's `steps_per_execution`); the
    # steps and their order are the same, only Python's overhead between them goes.
    steps_per_execution: int = 32
    # Skip the second test-set evaluation when the best epoch's weights are the final ones.
    reuse_best_evaluation: bool = True

    def __post_init__(self) -> None:
        spe = check_scalar(self.steps_per_execution, "steps_per_execution", int, min_val=1)
        object.__setattr__(self, "steps_per_execution", spe)
        check_flag(self.reuse_best_evaluation, "reuse_best_evaluation")


LOOP = Loop()  # the project's loop
PLAIN_LOOP = Loop(steps_per_execution=1, reuse_best_evaluation=False)  # plain `model.fit`


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced: per-epoch history, test metrics, timing, cache folder."""

    config: RunConfig
    key: str
    folder: Path
    history: pd.DataFrame
    test_loss: float
    test_accuracy: float
    best_epoch: int
    wall_time_s: float
    samples_per_s: float
    metrics: dict
    from_cache: bool


def default_config(model: str, **overrides: object) -> RunConfig:
    """The report's settings for a registered model, with any field overridden by keyword."""
    spec = get_model_spec(model)
    settings = {
        "model": model,
        "epochs": spec.epochs,
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
    }
    settings.update({name: value for name, value in overrides.items() if value is not None})
    return RunConfig(**settings)


def config_fields(config: RunConfig) -> dict:
    """The config's fields as its key and its config.json hold them: `threads` only when set, so
    that a run on the process's threads keeps the key and the record it had before the field."""
    fields = dataclasses.asdict(config)
    if fields["threads"] is None:
        del fields["threads"]
    return fields


def run_key(config: RunConfig) -> str:
    """The cache key of a run: its config (with its model's recipe, if any), its model's builder
    source, the training version."""
    spec = get_model_spec(config.model)
    settings = config_fields(config)
    if spec.recipe is not None:  # a report model has none: its key hashes its config's fields
        settings["recipe"] = dataclasses.asdict(spec.recipe)
    return entry_key(
        config.model,
        settings,
        builders=builder_code(spec),
        code_version=TRAINING_CODE_VERSION,
        libraries={"keras": keras.__version__},
    )


def run(
    config: RunConfig,
    *,
    cache_dir: Path | None = None,
    data_dir: str | os.PathLike | None = None,
    quiet: bool = False,
    loop: Loop = LOOP,
) -> RunResult:
    """Train `config` once and cache it; later calls return the cached result without training."""
    folder, trained = ensure_entry(config, cache_dir, data_dir=data_dir, quiet=quiet, loop=loop)
    if not trained and not quiet:
        print(f"{config.model} (seed {config.seed}): cached run {folder}")
    return dataclasses.replace(load_result(folder), from_cache=not trained)


def load_result(folder: Path) -> RunResult:
    """Read a complete cache entry back into a `RunResult`."""
    folder = Path(folder)
    if not is_complete(folder, ENTRY_FILES):
        raise FileNotFoundError(f"{folder} is not a complete run: it lacks one of {ENTRY_FILES}")
    config = RunConfig(**read_json(folder / "config.json"))
    metrics = read_json(folder / "metrics.json")
    return RunResult(
        config=config,
        key=folder.name,
        folder=folder.resolve(),
        history=pd.read_csv(folder / "history.csv", index_col="epoch"),
        test_loss=metrics["test_loss"],
        test_accuracy=metrics["test_accuracy"],
        best_epoch=metrics["best_epoch"],
        wall_time_s=metrics["wall_time_s"],
        samples_per_s=metrics["samples_per_s"],
        metrics=metrics,
        from_cache=True,
    )


def list_runs(cache_dir: Path | None = None) -> list[RunResult]:
    """Every complete training run in the cache, sorted by model, seed and epochs."""
    root = results_dir(cache_dir)
    folders = root.glob("*/config.json") if root.is_dir() else []
    results = [
        load_result(path.parent)
        for path in folders
        if not path.parent.name.startswith(".") and is_complete(path.parent, ENTRY_FILES)
    ]
    return sorted(results, key=lambda r: (r.config.model, r.config.seed, r.config.epochs, r.key))


def core_minutes(result: RunResult) -> float:
    """A run's training time in core-minutes (wall time x intra-op threads); NaN for a run cached
    before its thread count was recorded."""
    threads = result.metrics.get("intra_op_threads")
    return result.wall_time_s * threads / 60 if threads else math.nan


def load_model(result: RunResult, weights: str = "last") -> keras.Model:
    """The trained model of a run, with its final weights or those of its best epoch."""
    if weights not in ("last", "best"):
        raise ValueError(f"weights must be 'last' or 'best', got {weights!r}")
    model = keras.models.load_model(result.folder / "model.keras")
    if weights == "best":
        model.load_weights(result.folder / "best.weights.h5")
    return model


def load_val_losses(result: RunResult) -> np.ndarray:
    """Each validation image's cross-entropy after every epoch, (epochs, N_VALIDATION) float32."""
    return np.load(result.folder / "val_losses.npy")


def load_test_probabilities(result: RunResult) -> np.ndarray:
    """The final model's class probabilities (N_TEST, N_CLASSES) on the test set, as cached."""
    return np.load(result.folder / "test_probabilities.npy")


def prepare_data(
    config: RunConfig, input_shape: tuple[int, ...], data_dir: str | os.PathLike | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train (maybe a subset), validation and test arrays, scaled and shaped for the model."""
    (x_full, y_full), (x_test, y_test) = load_fashion_mnist(data_dir)
    (x_train, y_train), (x_val, y_val) = split_validation(x_full, y_full, N_VALIDATION)
    if config.train_subset is not None:
        x_train, y_train = x_train[: config.train_subset], y_train[: config.train_subset]
    splits = {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}
    return {
        name: (to_float(x).reshape((-1, *input_shape)), y.astype("int64"))
        for name, (x, y) in splits.items()
    }


def train_into(
    config: RunConfig,
    folder: Path,
    *,
    data_dir: str | os.PathLike | None,
    quiet: bool,
    loop: Loop = LOOP,
    precision: str | None = None,
) -> None:
    """Train, evaluate and write every file of a cache entry into `folder`; a mixed-precision
    model trains in `precision`, by default the machine's (`precision.machine_precision`).

    A run pinned to a thread count that this process's pools do not have trains in a child
    process that has them (`train_in_child`).
    """
    if config.threads is not None and pool_sizes() != (config.threads, config.threads):
        options = {"data_dir": data_dir, "quiet": quiet, "loop": loop, "precision": precision}
        train_in_child(config, folder, **options)
        return
    model = compiled_model(config, loop, precision)
    data = prepare_data(config, tuple(model.input_shape[1:]), data_dir)
    history, wall_time, val_losses = fit(model, config, data, folder / "best.weights.h5", quiet)
    metrics, probabilities = _test_metrics(model, data["test"], folder, loop)
    metrics.update(_run_facts(model, config, data, history, wall_time))
    write_json(folder / "config.json", config_fields(config))
    history.to_csv(folder / "history.csv")
    np.save(folder / "test_probabilities.npy", probabilities)
    np.save(folder / "val_losses.npy", val_losses)
    write_json(folder / "metrics.json", metrics)
    if not quiet:
        print(
            f"{config.model} (seed {config.seed}): test loss {metrics['test_loss']:.4f}, "
            f"test accuracy {metrics['test_accuracy']:.4f} ({wall_time:.1f} s)"
        )


def pool_sizes() -> tuple[int, int]:
    """The (intra-op, inter-op) thread counts this process's TensorFlow computes with."""
    counts = thread_counts()
    return counts["intra_op_threads"], counts["inter_op_threads"]


def train_in_child(
    config: RunConfig,
    folder: Path,
    *,
    data_dir: str | os.PathLike | None,
    quiet: bool,
    loop: Loop = LOOP,
    precision: str | None = None,
) -> None:
    """`train_into` in a new Python process whose thread pools have `config.threads` threads."""
    request = {
        "config": dataclasses.asdict(config),
        "folder": str(folder),
        "data_dir": None if data_dir is None else str(data_dir),
        "quiet": quiet,
        "loop": dataclasses.asdict(loop),
        "precision": precision,
    }
    environment = {**os.environ, **thread_environment(config.threads)}
    done = subprocess.run(
        [sys.executable, "-m", "fmnist_lib.training", json.dumps(request)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if not quiet and done.stdout:
        print(done.stdout, end="")
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(
            f"training {config.label()} in a process of its own failed "
            f"(exit {done.returncode}): {last[0]}"
        )


def train_request(text: str) -> None:
    """A child process's side of `train_in_child`: check its pools, then train in-process."""
    request = json.loads(text)
    config = RunConfig(**request["config"])
    tensorflow_threads()  # the pools take their size from TF_NUM_*_THREADS
    if pool_sizes() != (config.threads, config.threads):
        raise RuntimeError(
            f"this process has {pool_sizes()} (intra-op, inter-op) threads, not the "
            f"{config.threads} that TF_NUM_INTRAOP_THREADS and TF_NUM_INTEROP_THREADS ask for"
        )
    data_dir = request["data_dir"]
    train_into(
        config,
        Path(request["folder"]),
        data_dir=data_dir,
        quiet=request["quiet"],
        loop=Loop(**request["loop"]),
        precision=request["precision"],
    )


def compiled_model(
    config: RunConfig, loop: Loop = LOOP, precision: str | None = None
) -> keras.Model:
    """The config's model, built from its seed and compiled with its optimizer and loss.

    A model registered in mixed bfloat16 computes in `precision` ("float32" or "bfloat16"),
    by default the one this machine has natively (`precision.machine_precision`); the report's
    float32 models stay float32 whatever is asked.
    """
    precision = machine_precision() if precision is None else precision
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    # Before compiling: with op determinism on, Keras also leaves XLA off ("auto" resolves so).
    tf.config.experimental.enable_op_determinism()
    spec = get_model_spec(config.model)
    model = build_model(spec)
    if precision == "float32" and model_precision(model) != "float32":
        model = float32_copy(model)
    if spec.recipe is None:
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        loss = "sparse_categorical_crossentropy"
    else:
        optimizer = recipe_optimizer(config, spec.recipe)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=spec.recipe.label_smoothing)
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=loop.steps_per_execution,
    )
    return model


def float32_copy(model: keras.Model) -> keras.Model:
    """A copy of `model`, fresh weights included, with every layer computing in float32."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        return type(layer).from_config({**layer.get_config(), "dtype": "float32"})

    return keras.models.clone_model(model, clone_function=clone)


def model_precision(model: keras.Model) -> str:
    """"bfloat16" if any layer of `model` computes in bfloat16, else "float32"."""
    computes = {layer.dtype_policy.compute_dtype for layer in _all_layers(model)}
    return "bfloat16" if "bfloat16" in computes else "float32"


def _all_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer of `model`, those of nested models included."""
    layers = []
    for layer in model.layers:
        layers.append(layer)
        if isinstance(layer, keras.Model):
            layers.extend(_all_layers(layer))
    return layers


# What AdamW is given as `ema_momentum` for a recipe without an EMA: Keras's default, which it
# ignores when `use_ema` is False.
UNUSED_EMA_MOMENTUM = 0.99


def recipe_optimizer(config: RunConfig, recipe: Recipe) -> keras.optimizers.Optimizer:
    """AdamW whose learning rate rises linearly to `config.learning_rate` over the recipe's
    warm-up, then falls along a cosine to 0 by the last step (or stays there, without cosine)."""
    steps = config.epochs * math.ceil((config.train_subset or N_TRAIN) / config.batch_size)
    warmup = int(steps * recipe.warmup_fraction)
    if not recipe.cosine:  # warm up, then hold the peak
        decay_steps, alpha = 1, 1.0
    else:
        decay_steps, alpha = steps - warmup, 0.0
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate,
        decay_steps,
        alpha=alpha,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    return keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=recipe.weight_decay,
        use_ema=recipe.ema_momentum is not None,
        ema_momentum=UNUSED_EMA_MOMENTUM if recipe.ema_momentum is None else recipe.ema_momentum,
    )


def targets(model: keras.Model, labels: np.ndarray) -> np.ndarray:
    """The labels as `model`'s loss wants them: class indices, or one-hot rows for a loss with
    label smoothing (Keras's sparse cross-entropy has none)."""
    if isinstance(model.loss, keras.losses.CategoricalCrossentropy):
        return keras.utils.to_categorical(labels, N_CLASSES).astype(np.float32)
    return labels


def fit(
    model: keras.Model, config: RunConfig, data: dict, best_weights: Path, quiet: bool = True
) -> tuple[pd.DataFrame, float, np.ndarray]:
    """Fit on `data["train"]`, validating on `data["val"]` each epoch and keeping the best
    epoch's weights in `best_weights`; return the history (with each epoch's time), the wall
    time and each validation image's cross-entropy after every epoch, (epochs, images). The
    wall time leaves out the seconds spent computing those per-image losses.

    Every epoch visits the training images in a fresh order (`epoch_order`). Keras's own
    shuffling cannot do that here: with the global seed that makes a run repeatable, it draws the
    same permutation every epoch. How the steps execute is the `Loop` that `compiled_model`
    compiled `model` with.
    """
    epoch_times: list[float] = []
    val_losses: list[np.ndarray] = []
    val_losses_s: list[float] = []
    best = keras.callbacks.ModelCheckpoint(
        str(best_weights),
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        save_weights_only=True,
    )
    callbacks = [
        _progress_callback(config, epoch_times, quiet),
        _val_losses_callback(data["val"], val_losses, val_losses_s),
        best,
    ]
    (x_train, y_train), (x_val, y_val) = data["train"], data["val"]
    y_train, validation = targets(model, y_train), (x_val, targets(model, y_val))
    rows = []
    started = time.perf_counter()
    for epoch in range(config.epochs):  # one `fit` per epoch, each in its own order
        order = epoch_order(config.seed, epoch, len(x_train))
        fitted = model.fit(
            x_train[order],
            y_train[order],
            initial_epoch=epoch,
            epochs=epoch + 1,
            batch_size=config.batch_size,
            shuffle=False,
            validation_data=validation,
            callbacks=callbacks,
            verbose=0,
        )
        rows.append({name: values[-1] for name, values in fitted.history.items()})
    wall_time = time.perf_counter() - started - sum(val_losses_s)  # training and Keras's own
    history = pd.DataFrame(rows, index=pd.RangeIndex(1, config.epochs + 1, name="epoch"))
    history["time_s"] = epoch_times
    return history, wall_time, np.stack(val_losses)


def epoch_order(seed: int, epoch: int, n_images: int) -> np.ndarray:
    """The order in which epoch `epoch` (from 0) of a run with `seed` visits its `n_images`
    training images: a fresh permutation every epoch, the same on every machine."""
    return np.random.default_rng([seed, epoch]).permutation(n_images)


def keras_fit_orders(n_images: int, epochs: int, seed: int) -> list[list[int]]:
    """The order in which Keras's own `fit(shuffle=True)` visits `n_images` NumPy images in each
    of `epochs` epochs after `keras.utils.set_random_seed(seed)`, recorded by a tiny model."""

    class Recorder(keras.layers.Layer):
        def call(self, x: tf.Tensor, training: bool | None = None) -> tf.Tensor:
            if training:
                orders.append(np.asarray(x)[:, 0].astype(int).tolist())
            return x

    orders: list[list[int]] = []
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((1,)), Recorder(), keras.layers.Dense(1)])
    model.compile("sgd", "mse", run_eagerly=True)
    x = np.arange(n_images, dtype=np.float32).reshape(-1, 1)
    model.fit(x, x, batch_size=n_images, epochs=epochs, shuffle=True, verbose=0)
    return orders


def _val_losses_callback(
    val: tuple[np.ndarray, np.ndarray], val_losses: list[np.ndarray], spent: list[float]
) -> keras.callbacks.Callback:
    """A callback that appends each validation image's cross-entropy (float32; the loss without
    L2 or label smoothing) after every epoch, and the seconds that took to `spent`. It changes no
    weight and draws no random number."""
    x_val, y_val = val

    def end(epoch: int, logs: dict | None = None) -> None:
        started = time.perf_counter()
        probabilities = callback.model.predict(x_val, batch_size=EVALUATION_BATCH, verbose=0)
        val_losses.append(per_image_cross_entropy(probabilities, y_val).astype(np.float32))
        spent.append(time.perf_counter() - started)

    callback = keras.callbacks.LambdaCallback(on_epoch_end=end)
    return callback


def _test_metrics(
    model: keras.Model, test: tuple[np.ndarray, np.ndarray], folder: Path, loop: Loop
) -> tuple[dict, np.ndarray]:
    """Test metrics of the final and of the best-epoch weights; saves the final model first."""
    last = _evaluate(model, test)
    probabilities = last.pop("probabilities")
    model.save(folder / "model.keras")
    final_weights = model.get_weights()
    model.load_weights(folder / "best.weights.h5")
    same = all(
        np.array_equal(a, b) for a, b in zip(final_weights, model.get_weights(), strict=True)
    )
    best = dict(last) if loop.reuse_best_evaluation and same else _evaluate(model, test)
    best.pop("probabilities", None)
    metrics = {
        **{f"test_{name}": value for name, value in last.items()},
        **{f"best_test_{name}": value for name, value in best.items()},
    }
    return metrics, probabilities


def _run_facts(
    model: keras.Model, config: RunConfig, data: dict, history: pd.DataFrame, wall_time: float
) -> dict:
    """The best epoch, the timing, the sizes and the provenance of a finished run."""
    n_train = len(data["train"][0])
    return {
        "best_epoch": int(history["val_accuracy"].to_numpy().argmax()) + 1,
        "best_val_accuracy": float(history["val_accuracy"].max()),
        "wall_time_s": wall_time,
        "samples_per_s": n_train * config.epochs / wall_time,
        "n_train": n_train,
        "n_val": len(data["val"][0]),
        "n_test": len(data["test"][0]),
        "n_params": model.count_params(),
        "precision": model_precision(model),
        **probe(),  # device, ISA, thread counts, TensorFlow and Keras versions
    }


def _evaluate(model: keras.Model, test: tuple[np.ndarray, np.ndarray]) -> dict:
    """Test loss (with the L2 term), accuracy, cross-entropy alone, L2 term and probabilities.

    The cross-entropy is computed from the float32 probabilities, clipped at 1e-12 by
    `evaluation.cross_entropy`; Keras's own loss may differ slightly when a true-class probability
    underflows below that.
    """
    x, y = test
    loss, accuracy = model.evaluate(x, targets(model, y), batch_size=EVALUATION_BATCH, verbose=0)
    probabilities = np.asarray(
        model.predict(x, batch_size=EVALUATION_BATCH, verbose=0), dtype=np.float32
    )
    return {
        "loss": float(loss),
        "accuracy": float(accuracy),
        "cross_entropy": cross_entropy(probabilities, y),
        "l2_penalty": float(sum(float(penalty) for penalty in model.losses)),
        "probabilities": probabilities,
    }


def _progress_callback(
    config: RunConfig, epoch_times: list[float], quiet: bool
) -> keras.callbacks.Callback:
    """A callback that records each epoch's time and, unless quiet, prints one line per epoch."""
    clock: dict[str, float] = {}

    def begin(epoch: int, logs: dict | None = None) -> None:
        clock["start"] = time.perf_counter()

    def end(epoch: int, logs: dict | None = None) -> None:
        epoch_times.append(time.perf_counter() - clock["start"])
        if quiet:
            return
        logs = logs or {}
        print(
            f"{config.model} epoch {epoch + 1}/{config.epochs}: "
            f"loss {logs.get('loss', float('nan')):.4f} "
            f"accuracy {logs.get('accuracy', float('nan')):.4f} "
            f"val_loss {logs.get('val_loss', float('nan')):.4f} "
            f"val_accuracy {logs.get('val_accuracy', float('nan')):.4f} "
            f"({epoch_times[-1]:.1f} s)",
            flush=True,
        )

    return keras.callbacks.LambdaCallback(on_epoch_begin=begin, on_epoch_end=end)


if __name__ == "__main__":  # `train_in_child`: one JSON request, to this module as imported
    from fmnist_lib import training

    training.train_request(sys.argv[1])
