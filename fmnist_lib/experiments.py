"""The experiments the book reports: which runs it trains, and the report's published numbers."""

import time
from collections.abc import Callable
from dataclasses import dataclass

from fmnist_lib.baselines import BASELINES, BaselineConfig, run_baseline
from fmnist_lib.models import SEED_CNN, SEED_MLP
from fmnist_lib.training import RunConfig, default_config, run

# Seeds of the reproduction chapter; its `seeds` parameter defaults to these (a test checks).
REPORT_SEEDS = (0, 1, 2)
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


@dataclass(frozen=True)
class Step:
    """One piece of work the book needs: a label for progress output and how to do it."""

    label: str
    do: Callable[[], object]


def book_runs(seeds: tuple[int, ...] = REPORT_SEEDS) -> list[RunConfig]:
    """The report's two models with the report's settings, once per seed."""
    return [default_config(model, seed=seed) for model in REPORT_MODELS for seed in seeds]


def book_baselines() -> list[BaselineConfig]:
    """The scikit-learn baselines of the comparison chapter, on the full training split."""
    return [BaselineConfig(name) for name in BASELINES]


def book_steps(quiet: bool = False) -> list[Step]:
    """Every training run and baseline fit the book's chapters use with their default parameters."""
    steps = [
        Step(f"{c.model}, seed {c.seed}, {c.epochs} epochs", lambda c=c: run(c, quiet=quiet))
        for c in book_runs()
    ]
    steps += [Step(f"baseline {b.name}", lambda b=b: run_baseline(b)) for b in book_baselines()]
    return steps


def run_steps(steps: list[Step]) -> list[tuple[str, float, bool]]:
    """Do each step with a progress line; return (label, seconds, was cached) for each."""
    done = []
    for index, step in enumerate(steps, start=1):
        print(f"[{index}/{len(steps)}] {step.label}", flush=True)
        started = time.perf_counter()
        result = step.do()
        done.append((step.label, time.perf_counter() - started, bool(result.from_cache)))
    return done
