"""The experiments the book reports: which runs it trains, and the report's published numbers."""

from collections.abc import Mapping
from types import MappingProxyType

from fmnist_lib.baselines import BASELINES, BaselineConfig
from fmnist_lib.registry import (
    CNN_CONSTANT_FILTERS,
    MLP_EQUAL_WIDTHS,
    MLP_L2_1E4,
    MODERN_ABLATIONS,
    MODERN_CNN,
    SEED_CNN,
    SEED_MLP,
)
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


# The report's tuning claims (Sec. III), which it states without numbers. Each maps to the two
# settings it compares, (model, learning rate or None for the registry's): the one the report
# chose first, then the one it says does worse. All are full report budgets, 10 seeds each.
TUNING_SEEDS = REPORT_SEEDS  # the report settings' runs are the reproduction's, paired by seed
TUNING_CLAIMS = {
    "pyramid widths beat equal widths (MLP)": ((SEED_MLP, None), (MLP_EQUAL_WIDTHS, None)),
    "doubling the filters helps (CNN)": ((SEED_CNN, None), (CNN_CONSTANT_FILTERS, None)),
    "a smaller learning rate gives higher accuracy (MLP)": ((SEED_MLP, None), (SEED_MLP, 1e-3)),
    "a smaller L2 factor gives higher accuracy (MLP)": ((SEED_MLP, None), (MLP_L2_1E4, None)),
}
# The MLP's learning-rate x L2 grid: the claims' two settings of each, crossed.
TUNING_GRID = tuple((model, lr) for model in (SEED_MLP, MLP_L2_1E4) for lr in (None, 1e-3))


def tuning_settings() -> list[tuple[str, float | None]]:
    """Every (model, learning rate) that the tuning claims and the grid need, once each."""
    settings = [pair for pair_of in TUNING_CLAIMS.values() for pair in pair_of]
    return list(dict.fromkeys([*settings, *TUNING_GRID]))


def tuning_runs(seeds: tuple[int, ...] = TUNING_SEEDS) -> list[RunConfig]:
    """The runs that test the tuning claims: each setting once per seed, at the full budget."""
    return [
        default_config(model, learning_rate=lr, seed=seed)
        for model, lr in tuning_settings()
        for seed in seeds
    ]


# The modern CNN (the chapter past the report): its full recipe once per seed, and its ablations
# at a reduced budget, which the full recipe is also run at, to compare like with like.
MODERN_SEEDS = (0, 1, 2)
ABLATION_BUDGET = {"epochs": 5, "train_subset": 20_000}


def modern_runs(seeds: tuple[int, ...] = MODERN_SEEDS) -> list[RunConfig]:
    """The modern CNN's full recipe at its full budget, once per seed."""
    return [default_config(MODERN_CNN, seed=seed) for seed in seeds]


def ablation_runs(
    seeds: tuple[int, ...] = MODERN_SEEDS,
    names: tuple[str, ...] | None = None,
    epochs: int | None = None,
    train_subset: int | None = None,
) -> list[RunConfig]:
    """The full recipe and each ablation in `names` (None: all) at `ABLATION_BUDGET`, or at the
    `epochs` and `train_subset` given, once per seed."""
    budget = {
        "epochs": epochs or ABLATION_BUDGET["epochs"],
        "train_subset": train_subset or ABLATION_BUDGET["train_subset"],
    }
    ablations = MODERN_ABLATIONS if names is None else names
    return [
        default_config(model, seed=seed, **budget)
        for model in (MODERN_CNN, *ablations)
        for seed in seeds
    ]


def book_runs(seeds: tuple[int, ...] = REPORT_SEEDS) -> list[RunConfig]:
    """The report's two models with the report's settings, once per seed."""
    return [default_config(model, seed=seed) for model in REPORT_MODELS for seed in seeds]


# What a thread count changes (the reproduction chapter's section of that name): the
# report's two models at two seeds, each pinned to each count. The 1-thread arm is trained pinned
# too, since the book's other runs take the threads of whatever machine trains them.
THREAD_SEEDS = (0, 1)
THREAD_COUNTS = (1, 2)


def thread_runs(
    seeds: tuple[int, ...] = THREAD_SEEDS,
    epochs: Mapping[str, int | None] = MappingProxyType({}),
    train_subset: int | None = None,
) -> list[RunConfig]:
    """The report's two models at each seed, once pinned to each of `THREAD_COUNTS`, with the
    report's settings or the `epochs` (per model) and `train_subset` given."""
    return [
        default_config(
            model, seed=seed, epochs=epochs.get(model), train_subset=train_subset, threads=count
        )
        for model in REPORT_MODELS
        for seed in seeds
        for count in THREAD_COUNTS
    ]


def book_baselines() -> list[BaselineConfig]:
    """The scikit-learn baselines of the comparison chapter, on the full training split."""
    return [BaselineConfig(name) for name in BASELINES]


def book_configs() -> list[RunConfig | BaselineConfig]:
    """Every training run and baseline fit the chapters use with their default parameters.

    `python -m fmnist_lib prepare` (and `make book`) trains them with `runner.run_many`.
    """
    # The longest runs first, so that the short ones fill the workers at the end.
    runs = [*modern_runs(), *book_runs(), *tuning_runs(), *ablation_runs(), *thread_runs()]
    runs = list(dict.fromkeys(runs))  # shared runs once
    return [*runs, *book_baselines()]
