"""Many training runs and baseline fits at once, through dask.distributed, cached entry by entry.

`run_many(configs)` skips every config whose cache entry is complete and sends the rest to a
Dask cluster. Each task trains (or fits) in a worker process, into a temporary folder on the
worker, and returns the entry's files as bytes; the client writes each entry into its own cache
atomically (`cache.produce_entry`) as results arrive, so workers need no shared filesystem, and
an interrupted sweep keeps every entry that finished. One progress line per finished run gives
done/total, the elapsed time, an ETA and the dashboard link. A run that raises is reported and
the others go on; the returned `SweepSummary` lists it.

The cluster is, in order: the `client` given; the scheduler named by `scheduler` or
`$FMNIST_SCHEDULER` (`tcp://HOST:8786`, started with `dask scheduler`); else a `LocalCluster`
of worker processes, started for the sweep and closed after it. A local worker runs one task at
a time, and its TensorFlow, OpenMP, MKL and OpenBLAS thread pools are set so that
workers x threads <= cores (`cluster_shape`).
"""

import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dask
import psutil
import tensorflow as tf
from dask.distributed import Client, Future, LocalCluster, as_completed, get_worker

from fmnist_lib import baselines, training
from fmnist_lib.baselines import BaselineConfig
from fmnist_lib.cache import is_complete, produce_entry, results_dir
from fmnist_lib.provenance import schedulable_cpus
from fmnist_lib.training import RunConfig
from fmnist_lib.validation import check_scalar

Config = RunConfig | BaselineConfig
SCHEDULER_VARIABLE = "FMNIST_SCHEDULER"
# Threads per local worker when nothing is asked. On 2 cores, two 1-thread workers finished two
# CNN runs about 1.3x sooner than one 2-thread worker running them in turn (README, "Many runs
# at once").
DEFAULT_THREADS_PER_WORKER = 1
# A worker process training the CNN holds about 1 GB; leave each twice that.
WORKER_MEMORY_BYTES = 2 * 1024**3
# The thread pools a local worker limits, each set to its share of the cores.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "LOKY_MAX_CPU_COUNT",  # joblib's cpu_count: scikit-learn's n_jobs=-1 (the random forest)
)


@dataclass(frozen=True)
class EntryFiles:
    """What a worker sends back for one run: the entry's files, the time taken, the worker."""

    files: dict[str, bytes]
    seconds: float
    worker: str


@dataclass(frozen=True)
class Outcome:
    """What became of one config: cached, trained or failed, with its folder and its time."""

    config: Config
    label: str
    folder: Path
    status: str  # "cached", "trained" or "failed"
    seconds: float = 0.0
    worker: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class SweepSummary:
    """Every config's outcome, in the order given, and the sweep's wall time."""

    outcomes: tuple[Outcome, ...]
    elapsed_s: float

    @property
    def failures(self) -> tuple[Outcome, ...]:
        """The outcomes of the runs that raised."""
        return tuple(o for o in self.outcomes if o.status == "failed")


def describe(config: Config) -> str:
    """A short label for progress lines: model (or baseline), seed, epochs, subset."""
    subset = "" if config.train_subset is None else f", {config.train_subset} images"
    if isinstance(config, BaselineConfig):
        return f"baseline {config.name}, seed {config.seed}{subset}"
    epochs = f"{config.epochs} epoch{'' if config.epochs == 1 else 's'}"
    return f"{config.model}, seed {config.seed}, {epochs}{subset}"


def entry_key(config: Config) -> str:
    """The cache key of a run or baseline config (`training.run_key`, `baselines.baseline_key`)."""
    if isinstance(config, BaselineConfig):
        return baselines.baseline_key(config)
    if isinstance(config, RunConfig):
        return training.run_key(config)
    raise TypeError(f"configs must be RunConfig or BaselineConfig, got {type(config).__name__}")


def entry_names(config: Config) -> tuple[str, ...]:
    """The files a complete entry of this kind of config holds."""
    return baselines.ENTRY_FILES if isinstance(config, BaselineConfig) else training.ENTRY_FILES


def cluster_shape(
    n_runs: int,
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    cores: int | None = None,
    memory_bytes: int | None = None,
) -> tuple[int, int]:
    """(workers, threads each) for a local cluster: workers x threads <= cores.

    Threads default to `DEFAULT_THREADS_PER_WORKER` whatever the number of runs, so a run
    trained by a sweep on a given machine always gets the same thread count, hence the same
    numbers. Workers default to as many as the cores allow at that count, but no more than the
    runs or than the memory holds (`WORKER_MEMORY_BYTES` each).
    """
    n_runs = check_scalar(n_runs, "n_runs", int, min_val=1)
    cores = check_scalar(
        cores if cores is not None else schedulable_cpus(), "cores", int, min_val=1
    )
    n_workers = check_scalar(n_workers, "n_workers", int, min_val=1, allow_none=True)
    threads = check_scalar(
        threads_per_worker, "threads_per_worker", int, min_val=1, allow_none=True
    )
    if threads is None:
        threads = min(DEFAULT_THREADS_PER_WORKER, cores)
    if n_workers is None:
        if memory_bytes is None:
            memory_bytes = psutil.virtual_memory().available
        by_memory = max(1, memory_bytes // WORKER_MEMORY_BYTES)
        n_workers = max(1, min(n_runs, cores // threads, by_memory))
    if n_workers * threads > cores:
        raise ValueError(
            f"n_workers x threads_per_worker = {n_workers} x {threads} exceeds the {cores} cores; "
            "ask for fewer workers or threads"
        )
    return n_workers, threads


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables that give a worker's thread pools `threads` threads each."""
    threads = check_scalar(threads, "threads", int, min_val=1)
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def tensorflow_threads() -> tuple[int, int]:
    """TensorFlow's (intra-op, inter-op) pool sizes, first set from TF_NUM_*_THREADS if unset."""
    pools = tf.config.threading
    intra = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0"))
    inter = int(os.environ.get("TF_NUM_INTEROP_THREADS", "0"))
    with contextlib.suppress(RuntimeError):  # TensorFlow has started: its pools keep their size
        if intra and pools.get_intra_op_parallelism_threads() != intra:
            pools.set_intra_op_parallelism_threads(intra)
        if inter and pools.get_inter_op_parallelism_threads() != inter:
            pools.set_inter_op_parallelism_threads(inter)
    return pools.get_intra_op_parallelism_threads(), pools.get_inter_op_parallelism_threads()


def dask_setup(worker: object) -> None:
    """Preloaded into each local worker: Ctrl-C is the client's, which then stops the workers.

    A terminal sends SIGINT to every process of its foreground group, the workers included.
    """
    with contextlib.suppress(ValueError):  # not the process's main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def produce_files(config: Config, data_dir: str | os.PathLike | None = None) -> EntryFiles:
    """Train or fit `config` into a temporary folder (a Dask task) and return the entry's files."""
    try:
        worker = get_worker()
        scratch, address = worker.local_directory, worker.address
        # Keras's retracing notices would interleave with the client's progress lines.
        tf.get_logger().setLevel(logging.ERROR)
    except ValueError:  # called outside a worker
        scratch, address = None, "local"
    tensorflow_threads()
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="fmnist-entry-", dir=scratch))
    try:
        if isinstance(config, BaselineConfig):
            baselines.fit_into(config, folder, data_dir)
        else:
            training.train_into(config, folder, data_dir=data_dir, quiet=True)
        files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return EntryFiles(files=files, seconds=time.perf_counter() - started, worker=address)


def write_entry(folder: Path, names: Sequence[str], files: Mapping[str, bytes]) -> bool:
    """Write a worker's files as the cache entry `folder`, atomically; False if already there."""
    for name in files:
        if Path(name).name != name or name in ("", ".", ".."):
            raise ValueError(f"an entry file must be a plain file name, got {name!r}")

    def write(tmp: Path) -> None:
        for name, content in files.items():
            (tmp / name).write_bytes(content)

    return produce_entry(Path(folder), names, write)


@contextmanager
def local_client(n_workers: int, threads_per_worker: int) -> Iterator[Client]:
    """A `LocalCluster` of `n_workers` processes, one task each, with thread-limited pools.

    The thread variables are set in this process while the cluster lives, so the spawned
    workers start with them (before NumPy or TensorFlow load), and restored afterwards, along
    with anything Dask's nanny sets here (it exports OMP_NUM_THREADS=1 by default).
    """
    n_workers = check_scalar(n_workers, "n_workers", int, min_val=1)
    environment = thread_environment(threads_per_worker)
    saved = dict(os.environ)
    os.environ.update(environment)
    try:
        with (
            # A run waits at the scheduler, not queued behind another on a busy worker.
            dask.config.set({"distributed.scheduler.worker-saturation": 1.0}),
            LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=0,  # TensorFlow's memory is not Dask's to manage or pause
                env=environment,
                preload=[__name__],  # dask_setup: leave Ctrl-C to the client
                silence_logs=logging.ERROR,
                dashboard_address=":0",  # any free port: local clusters side by side never clash
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def connect(
    scheduler: str | None = None,
    *,
    n_runs: int = 1,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> Iterator[Client]:
    """A client of `scheduler` (else `$FMNIST_SCHEDULER`), else of a new local cluster."""
    address = scheduler or os.environ.get(SCHEDULER_VARIABLE) or None
    if address is None:
        shape = cluster_shape(n_runs, n_workers=n_workers, threads_per_worker=threads_per_worker)
        with local_client(*shape) as client:
            yield client
        return
    try:
        client = Client(address, timeout="10s")
    except OSError as error:
        raise ValueError(
            f"cannot reach the Dask scheduler {address} ({error}); start it with "
            f"`dask scheduler`, or unset {SCHEDULER_VARIABLE} to train on this machine"
        ) from None
    with client:
        yield client


def run_many(
    configs: Sequence[Config],
    client: Client | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    retries: int = 1,
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    quiet: bool = False,
) -> SweepSummary:
    """Train every config whose cache entry is missing on a Dask cluster; cache each as it ends.

    `retries` re-runs a task that raised (a worker that dies is replaced by Dask on its own).
    Without `client`, connects to `scheduler` or `$FMNIST_SCHEDULER`, else starts a local
    cluster of `n_workers` x `threads_per_worker` (see `cluster_shape`); nothing starts when
    every entry is cached. Ctrl-C keeps every finished entry and raises KeyboardInterrupt.
    """
    started = time.perf_counter()
    retries = check_scalar(retries, "retries", int, min_val=0)
    root = Path(cache_dir) if cache_dir is not None else results_dir()
    configs = list(dict.fromkeys(configs))  # a config asked twice is trained once
    folders = {config: root / entry_key(config) for config in configs}
    outcomes = {
        config: Outcome(config, describe(config), folders[config], "cached")
        for config in configs
        if is_complete(folders[config], entry_names(config))
    }
    missing = [config for config in configs if config not in outcomes]
    say = (lambda *lines: None) if quiet else _say
    say(f"{len(configs)} runs: {len(outcomes)} cached in {root}, {len(missing)} to train")
    if missing:
        with _client_for(client, scheduler, len(missing), n_workers, threads_per_worker) as active:
            outcomes.update(_train(active, missing, folders, data_dir, retries, say))
    summary = SweepSummary(tuple(outcomes[c] for c in configs), time.perf_counter() - started)
    if summary.failures:
        say(f"{len(summary.failures)} of {len(configs)} runs failed:")
        say(*(f"  {o.label}: {o.error} ({o.config!r})" for o in summary.failures))
    return summary


@contextmanager
def _client_for(
    client: Client | None,
    scheduler: str | None,
    n_runs: int,
    n_workers: int | None,
    threads_per_worker: int | None,
) -> Iterator[Client]:
    """The given client as it is, else a new one from `connect`, closed afterwards."""
    if client is not None:
        yield client
        return
    with connect(
        scheduler, n_runs=n_runs, n_workers=n_workers, threads_per_worker=threads_per_worker
    ) as new:
        yield new


def _train(
    client: Client,
    configs: list[Config],
    folders: dict[Config, Path],
    data_dir: str | os.PathLike | None,
    retries: int,
    say: Callable[..., None],
) -> dict[Config, Outcome]:
    """Submit `configs`, write each entry as its task ends; the outcome of each config."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    say(
        f"training {len(configs)} on {len(workers)} Dask workers "
        f"(scheduler {client.scheduler.address}, dashboard {client.dashboard_link})"
    )
    if not workers:
        say(f"no worker yet: start one with `dask worker {client.scheduler.address}`")
    futures = client.map(produce_files, configs, data_dir=data_dir, pure=False, retries=retries)
    by_future = dict(zip(futures, configs, strict=True))
    outcomes: dict[Config, Outcome] = {}
    submitted = time.perf_counter()
    try:
        for future in as_completed(futures):
            config = by_future[future]
            outcomes[config] = _land(future, config, folders[config])
            future.release()
            say(_progress_line(outcomes[config], len(outcomes), len(configs), submitted, client))
    except KeyboardInterrupt:
        client.cancel([f for f, c in by_future.items() if c not in outcomes])
        kept = sum(o.status == "trained" for o in outcomes.values())
        print(
            f"interrupted: {kept} finished entries kept in the cache; "
            f"a rerun trains the {len(configs) - kept} missing",
            file=sys.stderr,
            flush=True,
        )
        raise
    return outcomes


def _land(future: Future, config: Config, folder: Path) -> Outcome:
    """The outcome of a finished task: its entry written into the cache, or its error."""
    label = describe(config)
    if future.status == "finished":
        produced = future.result()
        try:
            write_entry(folder, entry_names(config), produced.files)
        except (OSError, RuntimeError, ValueError) as error:
            return Outcome(config, label, folder, "failed", error=_error_text(error))
        return Outcome(config, label, folder, "trained", produced.seconds, produced.worker)
    error = future.exception() if future.status == "error" else f"the task was {future.status}"
    return Outcome(config, label, folder, "failed", error=_error_text(error))


def _error_text(error: BaseException | str) -> str:
    """`Type: message` of an exception, on one line."""
    if isinstance(error, str):
        return error
    return " ".join(f"{type(error).__name__}: {error}".split())


def _progress_line(
    outcome: Outcome, done: int, total: int, submitted: float, client: Client
) -> str:
    """`[done/total] label: result; elapsed, ETA; dashboard` for one finished run."""
    elapsed = time.perf_counter() - submitted
    eta = elapsed / done * (total - done)
    if outcome.status == "failed":
        result = f"FAILED, {outcome.error} ({outcome.config!r})"
    else:
        result = f"trained in {outcome.seconds:.0f} s on {outcome.worker}"
    return (
        f"[{done}/{total}] {outcome.label}: {result}; elapsed {_clock(elapsed)}, "
        f"ETA {_clock(eta)}; dashboard {client.dashboard_link}"
    )


def _clock(seconds: float) -> str:
    """Seconds as h:mm:ss, or m:ss under an hour."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _say(*lines: str) -> None:
    """Print progress lines at once."""
    for line in lines:
        print(line, flush=True)
