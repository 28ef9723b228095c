"""Train a registered model on the report's 55,000/5,000 split, deterministically, cached on disk.

A run is described by a frozen `RunConfig`. Its results live in `results/<key>/`, where the key
hashes the config, the model's builder source, this module's training-code version and the Keras
version. `run` trains only when no complete entry exists; an entry is written to a temporary
folder and renamed into place when complete, so an interrupted run never looks finished.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fmnist_lib.data import load_fashion_mnist, split_validation, to_float
from fmnist_lib.models import get_model_spec, model_code_version

# Bump when a change here (optimizer, loss, data order, evaluation) would change a run's numbers.
TRAINING_CODE_VERSION = 1
ENTRY_FILES = ("config.json", "history.csv", "metrics.json", "model.keras")
N_VALIDATION = 5000


@dataclass(frozen=True)
class RunConfig:
    """One training run: which model, how long, on how much data, from which seed."""

    model: str
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int = 0
    train_subset: int | None = None

    def __post_init__(self) -> None:
        get_model_spec(self.model)
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.learning_rate, float | int) and 0 < self.learning_rate < 1):
            rate = self.learning_rate
            raise ValueError(f"learning_rate must be a number in (0, 1), got {rate!r}")
        subset = self.train_subset
        if subset is not None and (not isinstance(subset, int) or not 1 <= subset <= 55_000):
            raise ValueError(f"train_subset must be None or an integer in 1..55000, got {subset!r}")


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced: per-epoch history, test metrics, timing, cache folder."""

    config: RunConfig
    key: str
    folder: Path
    history: pd.DataFrame
    test_loss: float
    test_accuracy: float
    wall_time_s: float
    samples_per_s: float
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


def results_dir() -> Path:
    """Where runs are cached: `$FMNIST_RESULTS_DIR`, else `results/` at the repository root."""
    if os.environ.get("FMNIST_RESULTS_DIR"):
        return Path(os.environ["FMNIST_RESULTS_DIR"])
    root = Path(__file__).resolve().parents[1]
    return (root if (root / "pyproject.toml").exists() else Path.cwd()) / "results"


def run_key(config: RunConfig) -> str:
    """The cache key of a run: a hash of its config and of the code that would train it."""
    identity = {
        "config": dataclasses.asdict(config),
        "model_code": model_code_version(config.model),
        "training_code": TRAINING_CODE_VERSION,
        "keras": keras.__version__,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{config.model}-{digest[:16]}"


def is_complete(folder: Path) -> bool:
    """Whether a cache folder holds every file of a finished run."""
    return all((folder / name).is_file() for name in ENTRY_FILES)


def run(
    config: RunConfig,
    *,
    cache_dir: Path | None = None,
    data_dir: str | os.PathLike | None = None,
    quiet: bool = False,
) -> RunResult:
    """Train `config` once and cache it; later calls return the cached result without training."""
    root = Path(cache_dir) if cache_dir is not None else results_dir()
    key = run_key(config)
    folder = root / key
    if is_complete(folder):
        if not quiet:
            print(f"{config.model}: cached run {folder}")
        return load_result(folder)
    if folder.exists():
        # Entries appear complete by an atomic rename, so an incomplete one was damaged by hand.
        shutil.rmtree(folder)
    root.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{key}-", dir=root))
    try:
        _train_into(config, partial, data_dir=data_dir, quiet=quiet)
        try:
            partial.rename(folder)
        except OSError:
            if not is_complete(folder):
                raise
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return dataclasses.replace(load_result(folder), from_cache=False)


def load_result(folder: Path) -> RunResult:
    """Read a complete cache entry back into a `RunResult`."""
    folder = Path(folder)
    if not is_complete(folder):
        raise FileNotFoundError(f"{folder} is not a complete run: it lacks one of {ENTRY_FILES}")
    config = RunConfig(**json.loads((folder / "config.json").read_text()))
    metrics = json.loads((folder / "metrics.json").read_text())
    return RunResult(
        config=config,
        key=folder.name,
        folder=folder.resolve(),
        history=pd.read_csv(folder / "history.csv", index_col="epoch"),
        test_loss=metrics["test_loss"],
        test_accuracy=metrics["test_accuracy"],
        wall_time_s=metrics["wall_time_s"],
        samples_per_s=metrics["samples_per_s"],
        from_cache=True,
    )


def load_model(result: RunResult) -> keras.Model:
    """The trained Keras model of a run, loaded from its cache folder."""
    return keras.models.load_model(result.folder / "model.keras")


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


def _train_into(
    config: RunConfig, folder: Path, *, data_dir: str | os.PathLike | None, quiet: bool
) -> None:
    """Train, evaluate and write every file of a cache entry into `folder`."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    model = get_model_spec(config.model).build()
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    data = prepare_data(config, tuple(model.input_shape[1:]), data_dir)
    x_train, y_train = data["train"]
    epoch_times: list[float] = []
    callback = _progress_callback(config, epoch_times, quiet)
    started = time.perf_counter()
    fit = model.fit(
        x_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=data["val"],
        callbacks=[callback],
        verbose=0,
    )
    wall_time = time.perf_counter() - started
    test_loss, test_accuracy = model.evaluate(*data["test"], batch_size=512, verbose=0)
    history = pd.DataFrame(fit.history, index=pd.RangeIndex(1, config.epochs + 1, name="epoch"))
    history["time_s"] = epoch_times
    metrics = {
        "test_loss": float(test_loss),
        "test_accuracy": float(test_accuracy),
        "wall_time_s": wall_time,
        "samples_per_s": len(x_train) * config.epochs / wall_time,
        "n_train": len(x_train),
        "n_val": len(data["val"][0]),
        "n_test": len(data["test"][0]),
        "n_params": model.count_params(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2))
    history.to_csv(folder / "history.csv")
    model.save(folder / "model.keras")
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if not quiet:
        print(
            f"{config.model}: test loss {test_loss:.4f}, test accuracy {test_accuracy:.4f} "
            f"({wall_time:.1f} s)"
        )


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
