"""The experiments the book reports: which runs it trains, and the report's published numbers."""

from fmnist_lib.baselines import BASELINES, BaselineConfig
from fmnist_lib.models import SEED_CNN, SEED_MLP
from fmnist_lib.training import RunConfig, default_config

# Seeds of the reproduction chapter; its `seeds` parameter defaults to these (a test checks).
REPORT_SEEDS = tuple(range(10))
REPORT_MODELS = (SEED_MLP, SEED_CNN)

# The 2020 report's figures (Sec. IV), quoted as published: the epoch it called optimal and the
# test set. Facts to compare with, not results of this project.
REPORT_FIGURES = {
    SEED_MLP: {
        "loss": 0.2073,
        "accuracy": 0.9283,
        "val_loss": 0.2966,
        "val_accuracy": 0.9004,
        "test_loss": 0.346,
        "test_accuracy": 0.8939,
    },
    SEED_CNN: {
        "loss": 0.2077,
        "accuracy": 0.9354,
        "val_loss": 0.2482,
        "val_accuracy": 0.9232,
        "test_loss": 0.295,
        "test_accuracy": 0.9161,
    },
}


def book_runs(seeds: tuple[int, ...] = REPORT_SEEDS) -> list[RunConfig]:
    """The report's two models with the report's settings, once per seed."""
    return [default_config(model, seed=seed) for model in REPORT_MODELS for seed in seeds]


def book_baselines() -> list[BaselineConfig]:
    """The scikit-learn baselines of the comparison chapter, on the full training split."""
    return [BaselineConfig(name) for name in BASELINES]


def book_configs() -> list[RunConfig | BaselineConfig]:
    """Every training run and baseline fit the chapters use with their default parameters.

    `python -m fmnist_lib prepare` (and `make book`) trains them with `sweep.run_many`.
    """
    return [*book_runs(), *book_baselines()]
