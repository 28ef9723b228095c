"""The thread pools a process computes with: TensorFlow's two, and those of OpenMP, MKL, OpenBLAS.

A thread count splits sums differently, so it changes a run's numbers (README, "Precision and
thread counts"). Three places need a process with a given count: a local Dask worker
(`fmnist_lib.runner`), a speed measurement (`fmnist_lib.bench`) and a run pinned to a count
(`RunConfig.threads`, which trains in a child process when the current one has other pools).
They all start the process with `thread_environment`, and it calls `tensorflow_threads` first.
TensorFlow fixes its pools when its runtime starts; after that a process keeps them.
"""

import contextlib
import os

from fmnist_lib.validation import check_scalar

# The thread pools a process limits, each set to the same count.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "LOKY_MAX_CPU_COUNT",  # joblib's cpu_count: scikit-learn's n_jobs=-1 (the random forest)
)


def thread_environment(threads: int) -> dict[str, str]:
    """The environment variables that give a new process's thread pools `threads` threads each."""
    threads = check_scalar(threads, "threads", int, min_val=1)
    return dict.fromkeys(THREAD_VARIABLES, str(threads))


def use_threads(intra: object, inter: object) -> tuple[int, int]:
    """Give TensorFlow these pool sizes (positive ints; others are left alone) if its runtime has
    not started, and return the settings it then has (0: its default)."""
    import tensorflow as tf

    pools = tf.config.threading
    with contextlib.suppress(RuntimeError):  # TensorFlow has started: its pools keep their size
        if _positive(intra) and pools.get_intra_op_parallelism_threads() != intra:
            pools.set_intra_op_parallelism_threads(intra)
        if _positive(inter) and pools.get_inter_op_parallelism_threads() != inter:
            pools.set_inter_op_parallelism_threads(inter)
    return pools.get_intra_op_parallelism_threads(), pools.get_inter_op_parallelism_threads()


def tensorflow_threads() -> tuple[int, int]:
    """TensorFlow's (intra-op, inter-op) pool settings, first set from TF_NUM_*_THREADS if unset."""
    return use_threads(
        int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0")),
        int(os.environ.get("TF_NUM_INTEROP_THREADS", "0")),
    )


def _positive(count: object) -> bool:
    """True for a positive int (not a bool): a pool size to set."""
    return isinstance(count, int) and not isinstance(count, bool) and count > 0
