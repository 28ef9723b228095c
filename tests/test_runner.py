"""runner.run_many on one 2-worker LocalCluster: caching, baselines, a remote scheduler, faults.

Every run here is tiny (300 images, 1 epoch), and the module shares one cluster, so the workers
import TensorFlow once (a killed worker's replacement imports it again).
"""

import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from fmnist_lib import cli, runner
from fmnist_lib.baselines import BaselineConfig
from fmnist_lib.cache import is_complete
from fmnist_lib.experiments import book_configs
from fmnist_lib.threads import THREAD_VARIABLES, tensorflow_threads
from fmnist_lib.training import RunConfig, load_result


def tiny(seed: int) -> RunConfig:
    """A run of a few seconds: the MLP, 1 epoch on 300 images (mostly TensorFlow's set-up)."""
    return RunConfig(
        "seed-mlp", epochs=1, batch_size=64, learning_rate=1e-3, seed=seed, train_subset=300
    )


def quick_fit(seed: int) -> BaselineConfig:
    """A baseline fit of about a second: logistic regression on 200 images."""
    return BaselineConfig("logistic-regression", seed=seed, train_subset=200)


def landed(config, cache: Path) -> bool:
    """Whether `config`'s entry is complete in `cache`."""
    return is_complete(cache / config.key(), config.entry_files)


def partial_folders(cache: Path) -> list[Path]:
    """What `cache.produce_entry` leaves only while writing (or after a bug)."""
    return list(cache.glob(".partial-*")) if cache.exists() else []


def executing_keys(dask_worker) -> list[str]:
    """The keys of the tasks a worker is running now (run inside the worker by `client.run`)."""
    return [str(task.key) for task in dask_worker.state.executing]


@pytest.fixture(scope="module")
def client(real_data_dir):
    """A client of the project's own local cluster: 2 worker processes of 1 thread."""
    with runner.local_client(n_workers=2, threads_per_worker=1) as client:
        client.wait_for_workers(2, timeout=60)
        yield client


@pytest.fixture
def two_workers(client):
    """The module's client once both workers are up and idle.

    A killed worker is restarted by its nanny; a task cancelled by an interrupted run_many runs on
    to its end, since a running thread cannot be stopped.
    """
    client.wait_for_workers(2, timeout=60)
    deadline = time.monotonic() + 60
    while any(client.run(executing_keys).values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return client


@pytest.mark.parametrize("cores", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("n_runs", [1, 2, 5, 40])
def test_cluster_shape_uses_at_most_the_cores_and_no_more_workers_than_runs(cores, n_runs):
    workers, threads = runner.cluster_shape(n_runs, cores=cores, memory_bytes=64 * 1024**3)
    assert 1 <= workers <= n_runs
    assert workers * threads <= cores
    assert workers == n_runs or (workers + 1) * threads > cores  # no core left for one more


def test_cluster_shape_keeps_the_measured_thread_count_however_many_runs():
    big = 64 * 1024**3
    threads = runner.DEFAULT_THREADS_PER_WORKER
    assert runner.cluster_shape(8, cores=2, memory_bytes=big) == (2 // threads, threads)
    assert runner.cluster_shape(1, cores=2, memory_bytes=big) == (1, threads)
    assert runner.cluster_shape(1, n_workers=1, threads_per_worker=2, cores=2) == (1, 2)


def test_cluster_shape_limits_workers_by_memory_and_refuses_more_threads_than_cores():
    one_worker = runner.WORKER_MEMORY_BYTES
    shape = runner.cluster_shape(8, threads_per_worker=2, cores=16, memory_bytes=one_worker)
    assert shape == (1, 2)
    with pytest.raises(ValueError, match="exceeds the 2 cores"):
        runner.cluster_shape(4, n_workers=2, threads_per_worker=2, cores=2)


def test_store_entry_refuses_a_file_name_with_a_folder_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError, match="plain file name"):
        runner.store_entry(tmp_path / "entry", ["a"], {"../a": b"x"})
    assert list(tmp_path.iterdir()) == []


def test_local_workers_give_tensorflow_and_blas_one_thread_each(client):
    assert client.run(tensorflow_threads) == dict.fromkeys(client.run(os.getpid), (1, 1))
    environments = client.run(
        lambda: {name: os.environ.get(name) for name in THREAD_VARIABLES}
    )
    assert list(environments.values()) == [dict.fromkeys(THREAD_VARIABLES, "1")] * 2


def test_run_many_trains_missing_entries_on_the_workers_then_finds_them_cached(
    two_workers, tmp_path, capsys, monkeypatch
):
    configs = [tiny(0), quick_fit(0), quick_fit(1)]
    first = runner.run_many(configs, two_workers, cache_dir=tmp_path)
    assert [o.status for o in first.outcomes] == ["trained"] * 3
    assert {o.worker for o in first.outcomes} <= set(two_workers.scheduler_info()["workers"])
    assert all(landed(config, tmp_path) for config in configs)
    assert load_result(first.outcomes[0].folder).config == tiny(0)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert len(lines) == 3
    assert all(
        re.search(r"^\[\d/3\] .*elapsed \d+:\d\d, ETA \d+:\d\d; dashboard ", x) for x in lines
    )

    def no_cluster(*args, **kwargs):
        raise AssertionError("run_many connected to a cluster although every entry is cached")

    monkeypatch.setattr(runner, "connect", no_cluster)
    second = runner.run_many([*configs, configs[0]], cache_dir=tmp_path)
    assert [o.status for o in second.outcomes] == ["cached"] * 3
    assert partial_folders(tmp_path) == []


def test_train_seeds_trains_each_seed_on_the_scheduler_named_by_fmnist_scheduler(
    two_workers, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv(runner.SCHEDULER_VARIABLE, two_workers.scheduler.address)
    argv = ["train", "seed-mlp", "--seeds", "3-4", "--epochs", "1", "--subset", "300"]
    assert cli.main([*argv, "--batch-size", "64"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out.strip().splitlines()[-1])
    assert [(r["seed"], r["from_cache"]) for r in rows] == [(3, False), (4, False)]
    assert all(Path(row["cache_folder"]).parent == tmp_path for row in rows)
    used = set(re.findall(r"trained in \d+ s on (\S+);", captured.err))
    assert used and used <= set(two_workers.scheduler_info()["workers"])


def test_prepare_with_every_entry_cached_trains_nothing_and_connects_nowhere(
    tmp_path, monkeypatch, capsys
):
    for config in book_configs():
        folder = tmp_path / config.key()
        folder.mkdir()
        for name in config.entry_files:
            (folder / name).write_bytes(b"")
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv(runner.SCHEDULER_VARIABLE, "tcp://127.0.0.1:9")  # nothing listens there
    assert cli.main(["prepare"]) == 0
    out = capsys.readouterr().out
    assert f"{len(book_configs())} runs: {len(book_configs())} cached" in out
    assert out.count(" cached") == len(book_configs()) + 1


def test_a_run_that_raises_is_reported_and_the_others_land(two_workers, tmp_path, capsys):
    def break_seed_21():
        from fmnist_lib import training

        def train_into(config, folder, **kwargs):
            if config.seed == 21:
                raise RuntimeError("seed 21 cannot be trained")
            return train_into.__wrapped__(config, folder, **kwargs)

        train_into.__wrapped__ = training.train_into
        training.train_into = train_into

    def repair():
        from fmnist_lib import training

        training.train_into = getattr(training.train_into, "__wrapped__", training.train_into)

    configs = [tiny(20), tiny(21)]
    two_workers.run(break_seed_21)
    try:
        summary = runner.run_many(configs, two_workers, cache_dir=tmp_path, retries=0)
    finally:
        two_workers.run(repair)
    assert [o.status for o in summary.outcomes] == ["trained", "failed"]
    (failure,) = summary.failures
    assert failure.config == tiny(21)
    assert failure.error == "RuntimeError: seed 21 cannot be trained"
    assert [landed(c, tmp_path) for c in configs] == [True, False]
    assert not (tmp_path / tiny(21).key()).exists()
    out = capsys.readouterr().out
    assert "FAILED, RuntimeError: seed 21 cannot be trained" in out
    assert "1 of 2 runs failed" in out and repr(tiny(21)) in out


def test_an_interrupted_client_keeps_finished_entries_and_a_rerun_trains_only_the_rest(
    two_workers, tmp_path
):
    # Three fits of a second and one run of several: Ctrl-C comes once a fit has landed, while
    # the longer run still holds the client, however loaded the machine is.
    longer = RunConfig(
        "seed-mlp", epochs=3, batch_size=64, learning_rate=1e-3, seed=34, train_subset=3000
    )
    configs = [quick_fit(seed) for seed in range(30, 33)] + [longer]

    interrupted = threading.Event()

    def ctrl_c(signum, frame):  # Python's own handler, but only while the tasks are running
        while frame is not None and frame.f_code is not runner.run_tasks.__code__:
            frame = frame.f_back
        if frame is not None:
            raise KeyboardInterrupt

    def press_ctrl_c_when_an_entry_lands():
        deadline = time.monotonic() + 60
        while not any(landed(c, tmp_path) for c in configs) and time.monotonic() < deadline:
            time.sleep(0.02)
        # Pressed again every half second until run_many stops: on a loaded machine a signal
        # that arrives inside Dask's client machinery can be lost, as a key press can.
        while not interrupted.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            interrupted.wait(0.5)

    previous = signal.signal(signal.SIGINT, ctrl_c)
    presser = threading.Thread(target=press_ctrl_c_when_an_entry_lands, daemon=True)
    presser.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run_many(configs, two_workers, cache_dir=tmp_path, quiet=True)
    finally:
        interrupted.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
    kept = {c for c in configs if landed(c, tmp_path)}
    assert 1 <= len(kept) < len(configs)
    assert partial_folders(tmp_path) == []

    rerun = runner.run_many(configs, two_workers, cache_dir=tmp_path, quiet=True)
    assert {o.config for o in rerun.outcomes if o.status == "cached"} == kept
    assert {o.config for o in rerun.outcomes if o.status == "trained"} == set(configs) - kept
    assert all(landed(c, tmp_path) for c in configs)


def test_a_worker_killed_mid_run_is_replaced_and_every_entry_lands_whole(two_workers, tmp_path):
    configs = [tiny(10), quick_fit(10)]
    result = {}
    running_many = threading.Thread(
        target=lambda: result.update(
            summary=runner.run_many(configs, two_workers, cache_dir=tmp_path, quiet=True)
        )
    )
    running_many.start()
    victim, deadline = None, time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        running = {w: keys for w, keys in two_workers.run(executing_keys).items() if keys}
        time.sleep(0.3)  # inside a run of a few seconds, or the fit of about a second
        still = two_workers.run(executing_keys)
        victim = next((w for w, keys in running.items() if set(keys) & set(still.get(w, []))), None)
    assert victim is not None, "no run was seen running"
    os.kill(two_workers.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
    running_many.join(timeout=120)

    outcomes = result["summary"].outcomes
    assert [o.status for o in outcomes] == ["trained"] * len(configs)
    assert all(landed(config, tmp_path) for config in configs)
    assert load_result(outcomes[0].folder).config == tiny(10)
    assert partial_folders(tmp_path) == []
