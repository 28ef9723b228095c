"""Tasks on a Dask cluster, and many training runs and baseline fits at once, cached entry by entry.

`run_tasks` is the one Dask loop of the package: it submits one task per item to a
dask.distributed client, lands each result as its task ends (one progress line each) and, when
stopped early, cancels the rest. `connect` is its one client factory: the `client` given; else
the scheduler named by `scheduler` or `$FMNIST_SCHEDULER` (`tcp://HOST:8786`, started with
`dask scheduler`); else a `LocalCluster` of worker processes, started for the tasks and closed
after them. A local worker runs one task at a time, and its TensorFlow, OpenMP, MKL and OpenBLAS
thread pools are set so that workers x threads <= cores (`cluster_shape`). Both `run_many` and
the chapters' parameter sweeps (`fmnist_lib.chapters.run_sweep`) run on them.

`run_many(configs)` skips every config whose cache entry is complete and sends the rest out as
tasks. Each task trains (or fits) in a worker process, into a temporary folder on the worker, and
returns the entry's files as bytes; the client writes each entry into its own cache atomically
(`cache.produce_entry`) as results arrive, so workers need no shared filesystem, and an
interrupted `run_many` keeps every entry that finished. One progress line per finished run gives
done/total, the elapsed time, an ETA and the dashboard link. A run that raises is reported and
the others go on; the returned `RunsSummary` lists it. A config is any `cache.EntryConfig` (a
training run or a baseline fit): its key, files and `write_entry` are all this module uses.
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
from typing import TypeVar

import dask
import psutil
import tensorflow as tf
from dask.distributed import Client, Future, LocalCluster, as_completed, get_worker

from fmnist_lib.cache import EntryConfig, entry_folder, is_complete, produce_entry, results_dir
from fmnist_lib.provenance import schedulable_cpus
from fmnist_lib.threads import tensorflow_threads, thread_environment
from fmnist_lib.validation import check_scalar

Item = TypeVar("Item")
Landed = TypeVar("Landed")
SCHEDULER_VARIABLE = "FMNIST_SCHEDULER"
# Threads per local worker when nothing is asked. On 2 cores, two 1-thread workers finished two
# CNN runs about 1.3x sooner than one 2-thread worker running them in turn (README, "Many runs
# at once").
DEFAULT_THREADS_PER_WORKER = 1
# A worker process training the CNN holds about 1 GB; leave each twice that.
WORKER_MEMORY_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class ProducedFiles:
    """What a worker sends back for one run: the entry's files, the time taken, the worker."""

    files: dict[str, bytes]
    seconds: float
    worker: str


@dataclass(frozen=True)
class Outcome:
    """What became of one config: cached, trained or failed, with its folder and its time."""

    config: EntryConfig
    label: str
    folder: Path
    status: str  # "cached", "trained" or "failed"
    seconds: float = 0.0
    worker: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunsSummary:
    """Every config's outcome, in the order given, and the wall time of `run_many`."""

    outcomes: tuple[Outcome, ...]
    elapsed_s: float

    @property
    def failures(self) -> tuple[Outcome, ...]:
        """The outcomes of the runs that raised."""
        return tuple(o for o in self.outcomes if o.status == "failed")


@dataclass(frozen=True)
class Tick:
    """How far `run_tasks` is when one more task has landed: done of total, seconds so far."""

    done: int
    total: int
    elapsed_s: float

    @property
    def eta_s(self) -> float:
        """The seconds the remaining tasks should take at the pace so far."""
        return self.elapsed_s / self.done * (self.total - self.done)


def cluster_shape(
    n_tasks: int,
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    cores: int | None = None,
    memory_bytes: int | None = None,
) -> tuple[int, int]:
    """(workers, threads each) for a local cluster: workers x threads <= cores.

    Threads default to `DEFAULT_THREADS_PER_WORKER` whatever the number of tasks, so a run
    trained by `run_many` on a given machine always gets the same thread count, hence the same
    numbers. Workers default to as many as the cores allow at that count, but no more than the
    tasks or than the memory holds (`WORKER_MEMORY_BYTES` each).
    """
    n_tasks = check_scalar(n_tasks, "n_tasks", int, min_val=1)
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
        n_workers = max(1, min(n_tasks, cores // threads, by_memory))
    if n_workers * threads > cores:
        raise ValueError(
            f"n_workers x threads_per_worker = {n_workers} x {threads} exceeds the {cores} cores; "
            "ask for fewer workers or threads"
        )
    return n_workers, threads


def dask_setup(worker: object) -> None:
    """Preloaded into each local worker: Ctrl-C is the client's, which then stops the workers.

    A terminal sends SIGINT to every process of its foreground group, the workers included.
    """
    with contextlib.suppress(ValueError):  # not the process's main thread: nothing to change
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def produce_files(
    config: EntryConfig, data_dir: str | os.PathLike | None = None
) -> ProducedFiles:
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
        config.write_entry(folder, data_dir, quiet=True)
        files = {path.name: path.read_bytes() for path in folder.iterdir() if path.is_file()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return ProducedFiles(files=files, seconds=time.perf_counter() - started, worker=address)


def store_entry(folder: Path, names: Sequence[str], files: Mapping[str, bytes]) -> bool:
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
    client: Client | None = None,
    scheduler: str | None = None,
    *,
    n_tasks: int = 1,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
) -> Iterator[Client]:
    """`client` as it is; else a new client, closed afterwards, of `scheduler` (else
    `$FMNIST_SCHEDULER`), else of a new local cluster shaped for `n_tasks` (`cluster_shape`)."""
    if client is not None:
        yield client
        return
    address = scheduler or os.environ.get(SCHEDULER_VARIABLE) or None
    if address is None:
        shape = cluster_shape(n_tasks, n_workers=n_workers, threads_per_worker=threads_per_worker)
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


def run_tasks(
    client: Client,
    task: Callable[..., object],
    items: Sequence[Item],
    landed: dict[int, Landed],
    land: Callable[[int, Future], Landed],
    line: Callable[[int, Landed, Tick], str],
    say: Callable[[str], None],
    *,
    retries: int = 1,
    **options: object,
) -> None:
    """Run `task(item, **options)` for every item on the client's workers, landing each as it ends.

    For the item at index i whose task has ended, `landed[i] = land(i, future)` (`landed` starts
    empty), then `say(line(i, landed[i], tick))`: one progress line per finished task. `retries`
    reruns a task that raised. Stopped early (Ctrl-C, an error), it cancels the tasks not landed
    yet, and `landed` holds those that did.
    """
    futures = client.map(task, list(items), pure=False, retries=retries, **options)
    index_of = {future.key: index for index, future in enumerate(futures)}
    started = time.perf_counter()
    try:
        for future in as_completed(futures):
            index = index_of[future.key]
            landed[index] = land(index, future)
            future.release()
            tick = Tick(len(landed), len(futures), time.perf_counter() - started)
            say(line(index, landed[index], tick))
    finally:
        unfinished = [future for index, future in enumerate(futures) if index not in landed]
        if unfinished:
            client.cancel(unfinished)


def run_many(
    configs: Sequence[EntryConfig],
    client: Client | None = None,
    *,
    cache_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    retries: int = 1,
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    quiet: bool = False,
) -> RunsSummary:
    """Train every config whose cache entry is missing on a Dask cluster; cache each as it ends.

    `retries` re-runs a task that raised (a worker that dies is replaced by Dask on its own).
    Without `client`, connects to `scheduler` or `$FMNIST_SCHEDULER`, else starts a local
    cluster of `n_workers` x `threads_per_worker` (see `connect`); nothing starts when every
    entry is cached. Ctrl-C keeps every finished entry and raises KeyboardInterrupt.
    """
    started = time.perf_counter()
    retries = check_scalar(retries, "retries", int, min_val=0)
    root = results_dir(cache_dir)
    configs = list(dict.fromkeys(configs))  # a config asked twice is trained once
    folders = {config: entry_folder(config, root) for config in configs}
    outcomes = {
        config: Outcome(config, config.label(), folders[config], "cached")
        for config in configs
        if is_complete(folders[config], config.entry_files)
    }
    missing = [config for config in configs if config not in outcomes]
    say = (lambda *lines: None) if quiet else _say
    say(f"{len(configs)} runs: {len(outcomes)} cached in {root}, {len(missing)} to train")
    if missing:
        shape = {"n_workers": n_workers, "threads_per_worker": threads_per_worker}
        with connect(client, scheduler, n_tasks=len(missing), **shape) as active:
            outcomes.update(_produce_missing(active, missing, folders, data_dir, retries, say))
    summary = RunsSummary(tuple(outcomes[c] for c in configs), time.perf_counter() - started)
    if summary.failures:
        say(f"{len(summary.failures)} of {len(configs)} runs failed:")
        say(*(f"  {o.label}: {o.error} ({o.config!r})" for o in summary.failures))
    return summary


def _produce_missing(
    client: Client,
    configs: list[EntryConfig],
    folders: dict[EntryConfig, Path],
    data_dir: str | os.PathLike | None,
    retries: int,
    say: Callable[..., None],
) -> dict[EntryConfig, Outcome]:
    """Run `configs` as tasks, write each entry as its task ends; the outcome of each config."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    say(
        f"training {len(configs)} on {len(workers)} Dask workers "
        f"(scheduler {client.scheduler.address}, dashboard {client.dashboard_link})"
    )
    if not workers:
        say(f"no worker yet: start one with `dask worker {client.scheduler.address}`")
    landed: dict[int, Outcome] = {}
    try:
        run_tasks(
            client,
            produce_files,
            configs,
            landed,
            land=lambda index, future: _land(future, configs[index], folders[configs[index]]),
            line=lambda index, outcome, tick: _progress_line(outcome, tick, client.dashboard_link),
            say=say,
            retries=retries,
            data_dir=data_dir,
        )
    except KeyboardInterrupt:
        kept = sum(o.status == "trained" for o in landed.values())
        print(
            f"interrupted: {kept} finished entries kept in the cache; "
            f"a rerun trains the {len(configs) - kept} missing",
            file=sys.stderr,
            flush=True,
        )
        raise
    return {outcome.config: outcome for outcome in landed.values()}


def _land(future: Future, config: EntryConfig, folder: Path) -> Outcome:
    """The outcome of a finished task: its entry written into the cache, or its error."""
    label = config.label()
    if future.status == "finished":
        produced = future.result()
        try:
            store_entry(folder, config.entry_files, produced.files)
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


def _progress_line(outcome: Outcome, tick: Tick, dashboard: str) -> str:
    """`[done/total] label: result; elapsed, ETA; dashboard` for one finished run."""
    if outcome.status == "failed":
        result = f"FAILED, {outcome.error} ({outcome.config!r})"
    else:
        result = f"trained in {outcome.seconds:.0f} s on {outcome.worker}"
    return (
        f"[{tick.done}/{tick.total}] {outcome.label}: {result}; elapsed {_clock(tick.elapsed_s)}, "
        f"ETA {_clock(tick.eta_s)}; dashboard {dashboard}"
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
