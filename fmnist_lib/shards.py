"""Split the book's runs into N shards of about equal training time, the same split everywhere.

A cold build trains every run of `experiments.book_configs`; `python -m fmnist_lib prepare
--shard K/N` trains only the K-th of N parts, so that N machines (the jobs of a CI matrix) share
the work.
Every job must compute the same partition without talking to the others, so the split depends
only on the configs and on a committed table of measured training costs (`RUNNER_COSTS`), never
on what a machine's cache holds: `assign_shards` sorts the runs by estimated cost, longest
first (ties broken by the config's own fields, which no library version changes), and gives
each to the shard with the least work so far (the longest-processing-time rule).

`estimated_cost` turns the table into core-seconds of one run; `shard_wall_minutes` turns a
shard's runs into wall minutes on a cluster shape, under a stated assumption about how a run
scales with threads; `costs_from_cache` recomputes the table's rates from a results cache, so
that a maintainer can refresh it from the runs a real machine trained. This module needs
neither TensorFlow nor scikit-learn.
"""

import dataclasses
import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from fmnist_lib import registry
from fmnist_lib.data import N_TRAIN, N_VALIDATION
from fmnist_lib.validation import check_scalar

if TYPE_CHECKING:
    from fmnist_lib.baselines import BaselineConfig
    from fmnist_lib.training import RunConfig

    Config = RunConfig | BaselineConfig

# A validation image costs about a third of a training image: one forward pass, where a
# training step counts as three (the count `bench` uses for FLOPs). A run validates on the
# N_VALIDATION images once per epoch; its two test-set passes at the end are left out.
FORWARD_SHARE = 1 / 3


def per_image_epoch(core_seconds: float, epochs: int, n_train: int = N_TRAIN) -> float:
    """Core-seconds per training image-epoch of a run that took `core_seconds` in all."""
    return core_seconds / (epochs * (n_train + N_VALIDATION * FORWARD_SHARE))


# Measured on the development machine: a 2-core AMD EPYC with AVX-512 and AVX512_BF16, where
# the modern CNN's family trains in mixed bfloat16 (`precision`). Core-seconds (wall seconds x
# threads) per training image-epoch, with validation counted as above.
_DEV_MLP = per_image_epoch(150, epochs=20)  # a full run: about 150 s on 1 thread (7,345 images/s)
_DEV_CNN = per_image_epoch(180, epochs=10)  # a full run: about 3 min on 1 thread (4,042 images/s)
_DEV_MODERN = per_image_epoch(40 * 60, epochs=20)  # full runs: 37 to 47 core-minutes; ~40
# The ablations (5 epochs on 20,000 images) took 2 to 7 core-minutes each: at the full recipe's
# rate they come out at about 4 minutes, and the one without BatchNorm measured 2.
_DEV_NO_BATCHNORM = per_image_epoch(2 * 60, epochs=5, n_train=20_000)

# GitHub's ubuntu-latest runners for public repositories: 4 vCPUs of an AMD EPYC 7763, AVX2
# without bfloat16, so the modern CNN's family trains in float32. Measured there: the modern
# CNN at 260 training images/s on 2 threads (batch 128; 49 images/s if bfloat16 is emulated).
_RUNNER_MODERN = 2 / 260
# Assumed, not measured on AVX2: the ablation without BatchNorm costs the same share of the full
# recipe as on the development machine (about half).
_RUNNER_NO_BATCHNORM = _RUNNER_MODERN * _DEV_NO_BATCHNORM / _DEV_MODERN

# Core-seconds of one baseline fit on the full training split: estimates (about a minute each on
# the development machine), not measured on either machine. A fit on a subset scales with it.
BASELINE_FIT_SECONDS = MappingProxyType({"logistic-regression": 60.0, "random-forest": 60.0})


def _cost_table(mlp: float, cnn: float, modern: float, no_batchnorm: float) -> Mapping:
    """The table of one machine: every registered model's rate, and the baselines' fits.

    The report models' variants are assumed to cost what their report model does, the
    ablations what the full recipe does, but the one without BatchNorm.
    """
    report = {registry.SEED_MLP: mlp, registry.SEED_CNN: cnn, registry.MODERN_CNN: modern}
    # A variant at its report model's rate, an ablation at the full recipe's (development: ~4 min).
    family = {name: report[spec.variant_of or name] for name, spec in registry.MODELS.items()}
    family[registry.MODERN_CNN_NO_BATCHNORM] = no_batchnorm
    return MappingProxyType(
        {"per_image_epoch": MappingProxyType(family), "per_fit": BASELINE_FIT_SECONDS}
    )


DEVELOPMENT_COSTS = _cost_table(_DEV_MLP, _DEV_CNN, _DEV_MODERN, _DEV_NO_BATCHNORM)
# The table the shards are balanced by. The report's MLP and CNN have no bfloat16 and are
# assumed (not measured) to run at the development machine's per-core rate on the runners.
RUNNER_COSTS = _cost_table(_DEV_MLP, _DEV_CNN, _RUNNER_MODERN, _RUNNER_NO_BATCHNORM)

# The workflow's plan (.github/workflows/book.yml, README "Publishing a fork"): 8 shards, each
# one worker of 4 threads on a 4-vCPU runner, so a full modern-CNN run (about 73 min on 2
# threads) fits in an hour. Each full modern-CNN run has a shard to itself, and the report-sized
# runs share five more, each shorter than a modern run even if 4 threads were only 1.5x one.
WORKFLOW_SHARDS = 8
RUNNER_WORKERS = 1
RUNNER_THREADS = 4
# Assumed, not measured: a run on T > 1 threads uses them at this share of the table's per-core
# rate, i.e. 4 threads are 2.6 times one core. For the modern CNN that is 1.3x its measured
# 2-thread speed (the runner's 4 vCPUs are likely 2 cores with SMT); for the report's small
# models it is optimistic (their CNN ran 1.25x faster on 2 threads than on 1, development).
ASSUMED_EFFICIENCY = 0.65


def estimated_cost(config: "Config", costs: Mapping = RUNNER_COSTS) -> float:
    """Core-seconds of one run (epochs x (images + validation) x rate) or one baseline fit."""
    if hasattr(config, "model"):  # a RunConfig
        rates = costs["per_image_epoch"]
        if config.model not in rates:
            raise ValueError(f"no training cost for model {config.model!r} in the cost table")
        n_train = config.train_subset or N_TRAIN
        return config.epochs * (n_train + N_VALIDATION * FORWARD_SHARE) * rates[config.model]
    fits = costs["per_fit"]
    if getattr(config, "name", None) not in fits:
        raise ValueError(f"no cost for {config!r} in the cost table: neither a run nor a baseline")
    return fits[config.name] * (config.train_subset or N_TRAIN) / N_TRAIN


def config_identity(config: "Config") -> str:
    """The config's kind and fields as JSON: a tie-break that no library version changes."""
    fields = dataclasses.asdict(config)
    return json.dumps({"kind": type(config).__name__, **fields}, sort_keys=True)


def assign_shards(
    configs: Sequence["Config"], costs: Mapping = RUNNER_COSTS, n: int = WORKFLOW_SHARDS
) -> list[list["Config"]]:
    """`configs` in `n` shards of about equal cost (longest first, each to the least loaded).

    Each shard lists its configs longest first; the result depends neither on the order of
    `configs` nor on the machine. Shards can be empty when there are more shards than configs.
    """
    n = check_scalar(n, "n", int, min_val=1)
    if len(set(configs)) != len(configs):
        raise ValueError("configs must be distinct: a config given twice would be trained twice")
    ranked = sorted(configs, key=lambda c: (-estimated_cost(c, costs), config_identity(c)))
    shards: list[list[Config]] = [[] for _ in range(n)]
    loads = [0.0] * n
    for config in ranked:
        lightest = min(range(n), key=lambda i: (loads[i], i))
        shards[lightest].append(config)
        loads[lightest] += estimated_cost(config, costs)
    return shards


def shard(
    configs: Sequence["Config"], k: int, n: int, costs: Mapping = RUNNER_COSTS
) -> list["Config"]:
    """The `k`-th (from 1) of the `n` shards of `configs`, longest run first."""
    n = check_scalar(n, "n", int, min_val=1)
    k = check_scalar(k, "k", int, min_val=1, max_val=n)
    return assign_shards(configs, costs, n)[k - 1]


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` as (K, N) with 1 <= K <= N; ValueError otherwise."""
    first, slash, second = text.strip().partition("/")
    if not slash or not first.strip().isdigit() or not second.strip().isdigit():
        raise ValueError(f"a shard is written K/N, e.g. 2/8, got {text!r}")
    k, n = int(first), int(second)
    if not 1 <= k <= n:
        raise ValueError(f"a shard K/N needs 1 <= K <= N, got {text!r}")
    return k, n


def run_wall_seconds(cost: float, threads: int, efficiency: float = ASSUMED_EFFICIENCY) -> float:
    """Wall seconds of a run of `cost` core-seconds on `threads` threads (`efficiency` if > 1)."""
    threads = check_scalar(threads, "threads", int, min_val=1)
    efficiency = check_scalar(
        efficiency, "efficiency", float, min_val=0, max_val=1, include_boundaries="right"
    )
    return cost / (threads * (1.0 if threads == 1 else efficiency))


def schedule_seconds(walls: Sequence[float], workers: int) -> float:
    """Wall seconds for `workers` to finish runs of these wall times, each next run to the
    first worker free (the order given; Dask's, roughly)."""
    workers = check_scalar(workers, "workers", int, min_val=1)
    finish = [0.0] * workers
    for wall in walls:
        first_free = min(range(workers), key=lambda i: (finish[i], i))
        finish[first_free] += wall
    return max(finish)


def shard_wall_minutes(
    configs: Sequence["Config"], n: int = WORKFLOW_SHARDS, **options: Any
) -> list[float]:
    """Estimated training wall minutes of each of the `n` shards, each on its own machine
    (set-up and start-up not included); `options` are `plan`'s."""
    return [row["wall_minutes"] for row in plan(configs, n, **options)]


def plan(
    configs: Sequence["Config"],
    n: int = WORKFLOW_SHARDS,
    *,
    workers: int = RUNNER_WORKERS,
    threads: int = RUNNER_THREADS,
    costs: Mapping = RUNNER_COSTS,
    efficiency: float = ASSUMED_EFFICIENCY,
) -> list[dict]:
    """One row per shard: its runs, its estimated core-minutes and wall minutes, its longest run.

    A run pinned to a thread count (`RunConfig.threads`) runs on that many, the others on
    `threads` each.
    """
    rows = []
    for k, part in enumerate(assign_shards(configs, costs, n)):
        cores = [estimated_cost(c, costs) for c in part]
        walls = [
            run_wall_seconds(core, getattr(c, "threads", None) or threads, efficiency)
            for c, core in zip(part, cores, strict=True)
        ]
        rows.append(
            {
                "shard": f"{k + 1}/{n}",
                "runs": len(part),
                "core_minutes": sum(cores) / 60,
                "wall_minutes": schedule_seconds(walls, workers) / 60,
                "longest_run_minutes": max(walls, default=0.0) / 60,
            }
        )
    return rows


def costs_from_cache(cache_dir: str | Path) -> dict[str, float]:
    """Median core-seconds per training image-epoch of each model's runs in a results cache.

    A run counts as `wall_time_s` x `intra_op_threads` (metrics.json) over `epochs`
    (config.json) x (`n_train` + `n_val` / 3) (metrics.json), as `estimated_cost` counts it.
    Runs without a recorded thread count, baselines and unfinished entries are skipped. Give it
    the cache of one kind of machine: the rates of AVX2 and bfloat16 machines differ.
    """
    rates: dict[str, list[float]] = {}
    for metrics_path in sorted(Path(cache_dir).glob("*/metrics.json")):
        folder = metrics_path.parent
        config_path = folder / "config.json"
        if folder.name.startswith(".") or not config_path.is_file():
            continue
        config = json.loads(config_path.read_text(encoding="utf-8"))
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        threads = metrics.get("intra_op_threads")
        if "model" not in config or not threads or "wall_time_s" not in metrics:
            continue
        n_val = metrics.get("n_val", N_VALIDATION)
        images = config["epochs"] * (metrics["n_train"] + n_val * FORWARD_SHARE)
        rates.setdefault(config["model"], []).append(metrics["wall_time_s"] * threads / images)
    return {model: statistics.median(found) for model, found in sorted(rates.items())}
