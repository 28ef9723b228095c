"""shards: the book's runs split into N parts of about equal cost, the same split on every job.

Nothing here trains: the costs come from the committed table, the cache keys from the configs,
and the cost-table refresh reads cache entries written by hand.
"""

import json
import random

import pytest

from fmnist_lib import cli, registry, shards
from fmnist_lib.baselines import BASELINES, BaselineConfig
from fmnist_lib.experiments import book_configs
from fmnist_lib.training import default_config

CONFIGS = book_configs()
# A full modern-CNN run on the runner: 20 epochs of 55,000 images and 5,000 validation images
# at a third of the cost, at 2 core-seconds per 260 images (260 images/s on 2 threads).
RUNNER_MODERN_RUN_S = 20 * (55_000 + 5_000 / 3) * 2 / 260


def identities(configs) -> list[str]:
    """The configs as sorted identity strings, to compare collections of them."""
    return sorted(shards.config_identity(config) for config in configs)


def loads(n: int) -> list[float]:
    """Each shard's estimated core-seconds when the book's configs are split in `n`."""
    return [
        sum(shards.estimated_cost(c) for c in part) for part in shards.assign_shards(CONFIGS, n=n)
    ]


@pytest.mark.parametrize("n", range(1, 11))
def test_the_shards_partition_the_book_configs(n):
    parts = shards.assign_shards(CONFIGS, n=n)
    assert len(parts) == n
    flat = [config for part in parts for config in part]
    assert len(flat) == len(CONFIGS) == len(set(flat))
    assert identities(flat) == identities(CONFIGS)


def test_the_split_is_the_same_twice_and_whatever_the_order_of_the_configs():
    first = shards.assign_shards(CONFIGS, n=shards.WORKFLOW_SHARDS)
    shuffled = list(CONFIGS)
    random.Random(0).shuffle(shuffled)
    assert shards.assign_shards(CONFIGS, n=shards.WORKFLOW_SHARDS) == first
    assert shards.assign_shards(shuffled, n=shards.WORKFLOW_SHARDS) == first
    assert shards.assign_shards(CONFIGS[::-1], n=shards.WORKFLOW_SHARDS) == first


def test_a_shard_lists_its_runs_longest_first():
    for part in shards.assign_shards(CONFIGS, n=3):
        costs = [shards.estimated_cost(c) for c in part]
        assert costs == sorted(costs, reverse=True)


@pytest.mark.parametrize("n", sorted({shards.WORKFLOW_SHARDS, *range(2, 9)}))
def test_no_shard_costs_more_than_1_3_times_the_mean_up_to_8_shards(n):
    assert shards.WORKFLOW_SHARDS <= 8
    assert max(loads(n)) <= 1.3 * sum(loads(n)) / n


def test_from_9_shards_one_full_modern_run_outweighs_1_3_times_the_mean():
    """Why the balance bound is tested only up to 8: a full modern-CNN run cannot be split."""
    n = 9
    assert max(loads(n)) == pytest.approx(RUNNER_MODERN_RUN_S)
    assert max(loads(n)) > 1.3 * sum(loads(n)) / n


def test_each_full_modern_run_has_a_shard_of_its_own_in_the_workflow():
    parts = shards.assign_shards(CONFIGS, n=shards.WORKFLOW_SHARDS)
    full = [default_config("modern-cnn", seed=seed) for seed in (0, 1, 2)]
    assert [part for part in parts if set(part) & set(full)] == [[run] for run in full]


def test_every_model_and_baseline_has_a_cost_in_both_tables():
    for table in (shards.RUNNER_COSTS, shards.DEVELOPMENT_COSTS):
        assert set(table["per_image_epoch"]) == set(registry.MODELS)
        assert set(table["per_fit"]) == set(BASELINES)


def test_estimated_costs_give_back_the_measured_runs():
    dev = shards.DEVELOPMENT_COSTS
    assert shards.estimated_cost(default_config("seed-mlp"), dev) == pytest.approx(150)
    assert shards.estimated_cost(default_config("seed-cnn"), dev) == pytest.approx(180)
    assert shards.estimated_cost(default_config("modern-cnn"), dev) == pytest.approx(40 * 60)
    ablation = {"epochs": 5, "train_subset": 20_000}
    no_batchnorm = default_config("modern-cnn-no-batchnorm", **ablation)
    assert shards.estimated_cost(no_batchnorm, dev) == pytest.approx(2 * 60)
    # The other ablations at the full recipe's rate: 40 min x (5 x 21,667) / (20 x 56,667).
    no_flip = shards.estimated_cost(default_config("modern-cnn-no-flip", **ablation), dev)
    assert no_flip == pytest.approx(2400 * 5 * (20_000 + 5_000 / 3) / (20 * (55_000 + 5_000 / 3)))
    assert 3.5 * 60 < no_flip < 4 * 60
    runner = shards.RUNNER_COSTS
    assert shards.estimated_cost(default_config("modern-cnn"), runner) == pytest.approx(
        RUNNER_MODERN_RUN_S
    )
    assert shards.estimated_cost(BaselineConfig("random-forest"), runner) == 60
    assert shards.estimated_cost(BaselineConfig("random-forest", train_subset=11_000)) == 12


def test_a_config_without_a_cost_is_refused():
    table = {"per_image_epoch": {}, "per_fit": {}}
    with pytest.raises(ValueError, match="seed-mlp"):
        shards.estimated_cost(default_config("seed-mlp"), table)
    with pytest.raises(ValueError, match="neither a run nor a baseline"):
        shards.estimated_cost(BaselineConfig("random-forest"), table)


def test_assign_shards_refuses_a_config_given_twice_and_zero_shards():
    with pytest.raises(ValueError, match="distinct"):
        shards.assign_shards([CONFIGS[0], CONFIGS[0]], n=2)
    with pytest.raises(ValueError, match="n must be"):
        shards.assign_shards(CONFIGS, n=0)
    with pytest.raises(ValueError, match="k must be"):
        shards.shard(CONFIGS, 4, 3)


@pytest.mark.parametrize(("text", "expected"), [("1/1", (1, 1)), ("2/7", (2, 7)), (" 7/7", (7, 7))])
def test_parse_shard_reads_k_of_n(text, expected):
    assert shards.parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b", "3", "1/0", "-1/3", "1/3/5", ""])
def test_parse_shard_refuses_anything_but_k_of_n(text):
    with pytest.raises(ValueError, match="K/N"):
        shards.parse_shard(text)


def test_runs_are_scheduled_on_the_first_free_worker():
    # 5 and 4 start; 3 follows the 4 (free at 4), the last 3 follows the 5: 8 s in all.
    assert shards.schedule_seconds([5, 4, 3, 3], workers=2) == 8
    assert shards.schedule_seconds([5, 4, 3, 3], workers=1) == 15
    assert shards.schedule_seconds([], workers=3) == 0


def test_shard_wall_minutes_matches_a_hand_computation():
    runs = [default_config("seed-mlp", seed=seed) for seed in range(4)]
    runs.append(default_config("seed-cnn"))  # 180 s against 150 s for each MLP run
    # Longest first, each to the lighter shard: CNN -> A (180), MLP -> B (150), MLP -> B (300),
    # MLP -> A (330), MLP -> B (450). One thread: 5.5 and 7.5 minutes.
    dev = shards.DEVELOPMENT_COSTS
    assert shards.shard_wall_minutes(runs, 2, workers=1, threads=1, costs=dev) == pytest.approx(
        [5.5, 7.5]
    )
    # 4 threads at the assumed 65% efficiency: 2.6 times faster.
    assert shards.shard_wall_minutes(runs, 2, workers=1, threads=4, costs=dev) == pytest.approx(
        [5.5 / 2.6, 7.5 / 2.6]
    )
    # Two 1-thread workers per shard: A runs 180 and 150 side by side; B 150 and 150, then 150.
    assert shards.shard_wall_minutes(runs, 2, workers=2, threads=1, costs=dev) == pytest.approx(
        [3.0, 5.0]
    )


def test_a_run_pinned_to_a_thread_count_runs_on_that_many_whatever_the_workers_threads():
    dev = shards.DEVELOPMENT_COSTS
    one, two = (default_config("seed-mlp", threads=count) for count in (1, 2))
    # 150 core-seconds each: pinned to 1 thread, 150 s on a 4-thread worker; pinned to 2, at the
    # assumed 65% efficiency, 150 / 1.3 s; unpinned, 150 / 2.6 s.
    for run, seconds in ((one, 150), (two, 150 / 1.3), (default_config("seed-mlp"), 150 / 2.6)):
        (row,) = shards.plan([run], 1, workers=1, threads=4, costs=dev)
        assert row["wall_minutes"] == pytest.approx(seconds / 60)
        assert row["core_minutes"] == pytest.approx(2.5)


def test_no_shard_of_the_workflow_should_take_more_than_an_hour_on_a_runner():
    minutes = shards.shard_wall_minutes(CONFIGS)  # 8 shards, 1 worker x 4 threads, runner costs
    modern = RUNNER_MODERN_RUN_S / (4 * 0.65) / 60  # about 56 minutes
    assert max(minutes) == pytest.approx(modern)
    assert modern < 60
    assert len(minutes) == shards.WORKFLOW_SHARDS


def test_the_plan_rows_add_up(capsys):
    rows = shards.plan(CONFIGS)
    assert [row["shard"] for row in rows] == [f"{k}/8" for k in range(1, 9)]
    assert sum(row["runs"] for row in rows) == len(CONFIGS)
    assert sum(row["core_minutes"] for row in rows) == pytest.approx(
        sum(shards.estimated_cost(c) for c in CONFIGS) / 60
    )
    assert cli.main(["prepare", "--plan", "7"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 2 + 7
    assert printed[2].split()[:2] == ["1/7", "1"]


@pytest.mark.parametrize("text", ["0/3", "4/3", "a/b"])
def test_prepare_refuses_a_bad_shard_with_one_line_and_status_2(text, capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["prepare", "--shard", text])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "--shard" in err[0] and repr(text) in err[0]


def test_prepare_keys_of_each_shard_are_that_shards_and_add_up_to_all_the_keys(capsys):
    assert cli.main(["prepare", "--keys"]) == 0
    everything = capsys.readouterr().out.split()
    n = shards.WORKFLOW_SHARDS
    union = []
    for k in range(1, n + 1):
        assert cli.main(["prepare", "--keys", "--shard", f"{k}/{n}"]) == 0
        printed = capsys.readouterr().out.split()
        assert printed == [c.key() for c in shards.shard(CONFIGS, k, n)]
        union += printed
    assert sorted(union) == sorted(everything)
    assert len(everything) == len(set(everything)) == len(CONFIGS)


def write_entry(folder, config: dict, metrics: dict) -> None:
    """A cache entry with only config.json and metrics.json, as the refresh reads it."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")


def run_entry(model: str, epochs: int, wall: float, threads, n_train: int) -> tuple[dict, dict]:
    """The config.json and metrics.json of a run that took `wall` s on `threads` threads."""
    config = {"model": model, "epochs": epochs, "batch_size": 32, "learning_rate": 1e-3}
    metrics = {"wall_time_s": wall, "n_train": n_train, "n_val": 5_000}
    if threads is not None:
        metrics["intra_op_threads"] = threads
    return config, metrics


@pytest.fixture
def synthetic_cache(tmp_path):
    """Three MLP runs, two modern-CNN runs, and entries the refresh must skip."""
    cache = tmp_path / "results"
    entries = {
        "seed-mlp-a": run_entry("seed-mlp", 20, 150, 1, 55_000),
        "seed-mlp-b": run_entry("seed-mlp", 10, 100, 2, 20_000),
        "seed-mlp-c": run_entry("seed-mlp", 20, 90, 2, 55_000),
        "modern-cnn-a": run_entry("modern-cnn", 20, 4_000, 2, 55_000),
        "modern-cnn-b": run_entry("modern-cnn", 5, 400, 4, 20_000),
        "seed-cnn-old": run_entry("seed-cnn", 10, 180, None, 55_000),  # no thread count
        ".seed-cnn-tmp": run_entry("seed-cnn", 10, 180, 1, 55_000),  # being written
    }
    for name, (config, metrics) in entries.items():
        write_entry(cache / name, config, metrics)
    baseline = {"test_accuracy": 0.8, "fit_time_s": 60.0, "n_train": 55_000}
    write_entry(cache / "baseline-random-forest-x", {"name": "random-forest", "seed": 0}, baseline)
    (cache / "lonely").mkdir()
    (cache / "lonely" / "metrics.json").write_text("{}", encoding="utf-8")
    return cache


def test_costs_from_a_cache_are_the_hand_computed_medians(synthetic_cache):
    # Core-seconds over epochs x (training images + 5,000 / 3 validation images).
    mlp = sorted(
        [
            150 * 1 / (20 * (55_000 + 5_000 / 3)),  # 1.32e-4
            100 * 2 / (10 * (20_000 + 5_000 / 3)),  # 9.23e-4
            90 * 2 / (20 * (55_000 + 5_000 / 3)),  # 1.59e-4, the median
        ]
    )[1]
    modern = (4_000 * 2 / (20 * (55_000 + 5_000 / 3)) + 400 * 4 / (5 * (20_000 + 5_000 / 3))) / 2
    costs = shards.costs_from_cache(synthetic_cache)
    assert costs == {"modern-cnn": pytest.approx(modern), "seed-mlp": pytest.approx(mlp)}
    assert mlp == pytest.approx(180 / (20 * (55_000 + 5_000 / 3)))


def test_costs_of_a_refreshed_table_give_back_the_runs(synthetic_cache):
    """A rate from one run, put back in the table, estimates that run's core-seconds."""
    refreshed = {"per_image_epoch": shards.costs_from_cache(synthetic_cache), "per_fit": {}}
    run = default_config("seed-mlp")
    assert shards.estimated_cost(run, refreshed) == pytest.approx(90 * 2)


def test_costs_command_prints_the_refreshed_table_as_json(synthetic_cache, monkeypatch, capsys):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(synthetic_cache))
    assert cli.main(["runs", "costs"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == pytest.approx(shards.costs_from_cache(synthetic_cache))
    assert set(printed) == {"seed-mlp", "modern-cnn"}
