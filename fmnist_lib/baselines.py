"""Classical baselines from scikit-learn on the report's split, cached like training runs."""

import dataclasses
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import sklearn
from sklearn.base import ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from fmnist_lib.cache import ensure_entry, entry_key, read_json, write_json
from fmnist_lib.data import N_TRAIN, load_fashion_mnist, split_validation, to_float
from fmnist_lib.validation import check_scalar

BASELINES = ("logistic-regression", "random-forest")
ENTRY_FILES = ("config.json", "metrics.json", "test_predictions.npy")
# Bump when a change here, outside `make_classifier`, would change a baseline's numbers.
BASELINE_CODE_VERSION = 1


@dataclass(frozen=True)
class BaselineConfig:
    """One baseline fit: which classifier, from which seed, on how many training images."""

    name: str
    seed: int = 0
    train_subset: int | None = None
    entry_files: ClassVar[tuple[str, ...]] = ENTRY_FILES  # a cache.EntryConfig

    def __post_init__(self) -> None:
        if self.name not in BASELINES:
            raise ValueError(f"unknown baseline {self.name!r}; choose one of: {BASELINES}")
        seed = check_scalar(self.seed, "seed", int, min_val=0)
        subset = check_scalar(
            self.train_subset, "train_subset", int, min_val=10, max_val=N_TRAIN, allow_none=True
        )
        object.__setattr__(self, "seed", seed)  # NumPy scalars become plain numbers, for the key
        object.__setattr__(self, "train_subset", subset)

    def key(self) -> str:
        """The fit's cache key (`baseline_key`)."""
        return baseline_key(self)

    def label(self) -> str:
        """The fit in a few words for progress lines: baseline, seed, subset."""
        subset = "" if self.train_subset is None else f", {self.train_subset} images"
        return f"baseline {self.name}, seed {self.seed}{subset}"

    def write_entry(
        self, folder: Path, data_dir: str | os.PathLike | None = None, quiet: bool = False
    ) -> None:
        """Fit the baseline and write its cache entry into `folder` (`fit_into`; it prints
        nothing, quiet or not)."""
        fit_into(self, folder, data_dir)


@dataclass(frozen=True)
class BaselineResult:
    """A fitted baseline's test accuracy, fitting time and test predictions."""

    config: BaselineConfig
    folder: Path
    test_accuracy: float
    fit_time_s: float
    metrics: dict
    test_predictions: np.ndarray
    from_cache: bool


def make_classifier(config: BaselineConfig) -> ClassifierMixin:
    """The unfitted scikit-learn classifier a baseline config names."""
    if config.name == "logistic-regression":
        return LogisticRegression(max_iter=500, random_state=config.seed)
    return RandomForestClassifier(n_estimators=100, n_jobs=-1, random_state=config.seed)


def baseline_key(config: BaselineConfig) -> str:
    """The cache key of a baseline fit: its config, `make_classifier`'s source, the version."""
    return entry_key(
        f"baseline-{config.name}",
        dataclasses.asdict(config),
        builders=[make_classifier],
        code_version=BASELINE_CODE_VERSION,
        libraries={"sklearn": sklearn.__version__},
    )


def run_baseline(
    config: BaselineConfig,
    *,
    cache_dir: Path | None = None,
    data_dir: str | os.PathLike | None = None,
) -> BaselineResult:
    """Fit a baseline on the flattened training images once, cached; evaluate on the test set."""
    folder, fitted = ensure_entry(config, cache_dir, data_dir=data_dir)
    return dataclasses.replace(load_baseline(folder), from_cache=not fitted)


def load_baseline(folder: Path) -> BaselineResult:
    """Read a complete baseline entry back into a `BaselineResult`."""
    folder = Path(folder)
    metrics = read_json(folder / "metrics.json")
    return BaselineResult(
        config=BaselineConfig(**read_json(folder / "config.json")),
        folder=folder.resolve(),
        test_accuracy=metrics["test_accuracy"],
        fit_time_s=metrics["fit_time_s"],
        metrics=metrics,
        test_predictions=np.load(folder / "test_predictions.npy"),
        from_cache=True,
    )


def fit_into(
    config: BaselineConfig, folder: Path, data_dir: str | os.PathLike | None = None
) -> None:
    """Fit, evaluate and write a baseline's cache entry into `folder`."""
    (x_full, y_full), (x_test, y_test) = load_fashion_mnist(data_dir)
    (x_train, y_train), _ = split_validation(x_full, y_full)
    if config.train_subset is not None:
        x_train, y_train = x_train[: config.train_subset], y_train[: config.train_subset]
    x_train = to_float(x_train).reshape(len(x_train), -1)
    classifier = make_classifier(config)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(x_train, y_train)
    fit_time = time.perf_counter() - started
    predictions = classifier.predict(to_float(x_test).reshape(len(x_test), -1))
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    write_json(folder / "config.json", dataclasses.asdict(config))
    np.save(folder / "test_predictions.npy", predictions.astype(np.int64))
    write_json(
        folder / "metrics.json",
        {
            "test_accuracy": float((predictions == y_test).mean()),
            "fit_time_s": fit_time,
            "samples_per_s": len(x_train) / fit_time,
            "n_train": len(x_train),
            "converged": converged,
            "sklearn": sklearn.__version__,
        },
    )
