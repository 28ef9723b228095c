"""The runs `make book` prepares are exactly those the chapters use with default parameters."""

import dataclasses
from pathlib import Path

import jupytext
import pytest

from fmnist_lib.baselines import BaselineConfig
from fmnist_lib.experiments import (
    REPORT_MODELS,
    REPORT_SEEDS,
    THREAD_SEEDS,
    book_baselines,
    book_configs,
    book_runs,
    tuning_runs,
)
from fmnist_lib.training import default_config

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def default_parameters(chapter: str) -> dict:
    """The values a chapter's `parameters` cell assigns."""
    notebook = jupytext.read(NOTEBOOKS / f"{chapter}.md")
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    values: dict = {}
    exec(cell.source, {}, values)
    return values


def test_book_runs_are_both_report_models_for_every_seed():
    runs = book_runs()
    assert len(runs) == len(REPORT_MODELS) * len(REPORT_SEEDS)
    assert {(r.model, r.seed) for r in runs} == {
        (m, s) for m in REPORT_MODELS for s in REPORT_SEEDS
    }
    assert all(r.train_subset is None for r in runs)


@pytest.mark.parametrize(
    ("chapter", "model"), [("experiment_mlp", "seed-mlp"), ("experiment_cnn", "seed-cnn")]
)
def test_model_chapters_default_run_is_prepared_by_make_book(chapter, model):
    p = default_parameters(chapter)
    config = default_config(
        model,
        epochs=p["epochs"],
        learning_rate=p["learning_rate"],
        batch_size=p["batch_size"],
        seed=p["seed"],
        train_subset=p["train_subset"],
    )
    assert config in book_runs()


def test_reproduction_chapter_defaults_are_the_prepared_seeds_and_baselines():
    p = default_parameters("reproduction")
    assert tuple(p["seeds"]) == REPORT_SEEDS
    assert p["epochs_mlp"] is None and p["epochs_cnn"] is None and p["train_subset"] is None
    assert p["baseline_subset"] is None
    assert tuple(p["thread_seeds"]) == THREAD_SEEDS
    assert all(isinstance(b, BaselineConfig) and b.train_subset is None for b in book_baselines())


def test_book_configs_are_every_run_longest_first_then_every_baseline_each_once():
    from fmnist_lib.experiments import ablation_runs, modern_runs, thread_runs

    configs = book_configs()
    new_tuning = [r for r in tuning_runs() if r not in book_runs()]
    runs = modern_runs() + book_runs() + new_tuning + ablation_runs() + thread_runs()
    assert configs == runs + book_baselines()
    assert len(set(configs)) == len(configs)


def test_tuning_runs_cover_every_claim_and_the_grid_at_the_full_budget():
    from fmnist_lib.experiments import TUNING_CLAIMS, TUNING_GRID, TUNING_SEEDS

    runs = tuning_runs()
    settings = {(r.model, r.learning_rate) for r in runs}
    for chosen, rejected in TUNING_CLAIMS.values():
        for model, lr in (chosen, rejected, *TUNING_GRID):
            assert (model, default_config(model, learning_rate=lr).learning_rate) in settings
    assert len(runs) == len(settings) * len(TUNING_SEEDS) == len(set(runs))
    assert all(r.train_subset is None and r.epochs == default_config(r.model).epochs for r in runs)
    # The report models' settings at the tuning seeds are the reproduction's runs, trained once.
    shared = set(runs) & set(book_runs())
    assert len(shared) == len(REPORT_MODELS) * len(TUNING_SEEDS)
    from fmnist_lib.experiments import ablation_runs, modern_runs, thread_runs

    prepared = set(runs) | set(book_runs()) | set(modern_runs()) | set(ablation_runs())
    prepared |= set(thread_runs())
    assert len(book_configs()) == len(prepared) + len(book_baselines())


def test_tuning_claims_chapter_defaults_are_the_prepared_tuning_runs():
    from fmnist_lib.experiments import TUNING_SEEDS

    p = default_parameters("tuning_claims")
    assert tuple(p["seeds"]) == TUNING_SEEDS
    assert p["epochs_mlp"] is None and p["epochs_cnn"] is None and p["train_subset"] is None


def test_calibration_chapter_reads_the_reproduction_runs():
    p = default_parameters("calibration")
    assert tuple(p["seeds"]) == REPORT_SEEDS
    assert p["epochs_mlp"] is None and p["epochs_cnn"] is None and p["train_subset"] is None


def test_the_modern_cnn_runs_and_ablations_are_prepared_as_the_chapter_reads_them():
    from fmnist_lib.experiments import ABLATION_BUDGET, MODERN_SEEDS, ablation_runs, modern_runs
    from fmnist_lib.registry import MODERN_ABLATIONS, MODERN_CNN

    p = default_parameters("modern_cnn")
    assert tuple(p["seeds"]) == MODERN_SEEDS
    assert p["epochs"] is None and p["train_subset"] is None and p["ablations"] is None
    assert p["ablation_epochs"] is None and p["ablation_subset"] is None
    assert modern_runs() == [default_config(MODERN_CNN, seed=s) for s in MODERN_SEEDS]
    ablations = ablation_runs()
    assert {r.model for r in ablations} == {MODERN_CNN, *MODERN_ABLATIONS}
    assert len(ablations) == (1 + len(MODERN_ABLATIONS)) * len(MODERN_SEEDS)
    assert all(
        (r.epochs, r.train_subset) == (ABLATION_BUDGET["epochs"], ABLATION_BUDGET["train_subset"])
        for r in ablations
    )
    prepared = set(book_configs())
    assert set(modern_runs()) <= prepared and set(ablations) <= prepared
    # The robustness table and the cost table read the report's runs at these seeds: prepared.
    assert {default_config(m, seed=s) for m in REPORT_MODELS for s in MODERN_SEEDS} <= prepared


def test_ablation_runs_take_a_subset_of_ablations_and_another_budget():
    from fmnist_lib import registry
    from fmnist_lib.experiments import ABLATION_BUDGET, ablation_runs

    name = next(iter(registry.MODERN_ABLATIONS))
    runs = ablation_runs((0, 1), names=(name,), epochs=2, train_subset=512)
    assert [(r.model, r.seed) for r in runs] == [
        (registry.MODERN_CNN, 0), (registry.MODERN_CNN, 1), (name, 0), (name, 1)]
    assert {(r.epochs, r.train_subset) for r in runs} == {(2, 512)}
    default = ablation_runs((0,))
    assert {(r.epochs, r.train_subset) for r in default} == {tuple(ABLATION_BUDGET.values())}
    assert len(default) == 1 + len(registry.MODERN_ABLATIONS)


def test_thread_runs_pin_each_report_model_and_seed_to_each_count_with_the_reports_settings():
    from fmnist_lib.experiments import THREAD_COUNTS, thread_runs

    runs = thread_runs()
    assert len(runs) == len(REPORT_MODELS) * len(THREAD_SEEDS) * len(THREAD_COUNTS) == 8
    assert {(r.model, r.seed, r.threads) for r in runs} == {
        (m, s, t) for m in REPORT_MODELS for s in THREAD_SEEDS for t in THREAD_COUNTS
    }
    for run in runs:  # the report's settings, only the thread count added
        assert dataclasses.replace(run, threads=None) in book_runs()
    short = thread_runs((3,), {"seed-mlp": 2}, train_subset=500)
    assert {(r.seed, r.train_subset) for r in short} == {(3, 500)}
    assert {r.model: r.epochs for r in short} == {"seed-mlp": 2, "seed-cnn": 10}
