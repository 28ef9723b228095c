"""Where a run's numbers were computed: the device, the CPU's vector instructions, the thread
pools TensorFlow uses and the library versions.

A run is repeatable bit for bit only on the same kind of CPU (its instruction set decides which
kernels oneDNN and Eigen pick), with the same thread counts (they decide how sums are split) and
the same TensorFlow and Keras. `probe` reads these facts so that a run's `metrics.json` records
them; they never enter a cache key, so a cached run is reused anywhere and shows where it came
from instead. `describe` turns a metrics record into the words a report shows, and says "not
recorded" for runs cached before these facts were written; it needs no TensorFlow, so the
module imports TensorFlow and Keras only in the functions that ask them.
"""

import os
import platform
from collections.abc import Mapping
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
NOT_RECORDED = "not recorded"
# The x86 features that change which kernels run, as /proc/cpuinfo spells them, and their names.
ISA_FLAGS = {
    "avx2": "AVX2",
    "avx512f": "AVX-512",
    "avx512_bf16": "AVX512_BF16",
    "amx_tile": "AMX",
}
FIELDS = (
    "device",
    "cpu",
    "isa",
    "intra_op_threads",
    "inter_op_threads",
    "intra_op_threads_setting",
    "inter_op_threads_setting",
    "cpu_count",
    "tensorflow",
    "keras",
)


def read_cpuinfo(path: Path = CPUINFO) -> str:
    """The text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _first_value(cpuinfo: str, names: tuple[str, ...]) -> str | None:
    """The value of the first line of `cpuinfo` whose field is one of `names`."""
    for line in cpuinfo.splitlines():
        field, _, value = line.partition(":")
        if field.strip().lower() in names and value.strip():
            return value.strip()
    return None


def cpu_model(cpuinfo: str) -> str:
    """The CPU's model name from /proc/cpuinfo text, else what `platform` knows about it."""
    name = _first_value(cpuinfo, ("model name", "hardware", "cpu model"))
    return name or platform.processor() or platform.machine() or "unknown CPU"


def isa_features(cpuinfo: str) -> list[str]:
    """The vector instruction sets of ISA_FLAGS that the CPU has, e.g. ['AVX2', 'AVX-512']."""
    flags = set((_first_value(cpuinfo, ("flags", "features")) or "").split())
    return [name for flag, name in ISA_FLAGS.items() if flag in flags]


def gpu_names() -> list[str]:
    """The names of the GPUs TensorFlow sees (it uses one without being asked); [] on a CPU."""
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return names


def schedulable_cpus() -> int:
    """The CPUs this process may run on (its affinity), else `os.cpu_count()`."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def thread_counts() -> dict[str, int]:
    """TensorFlow's intra- and inter-op thread settings (0: its default) and what they resolve to.

    TensorFlow reads `TF_NUM_INTRAOP_THREADS` and `TF_NUM_INTEROP_THREADS` when a setting is 0,
    and otherwise uses one thread per schedulable CPU.
    """
    import tensorflow as tf

    cpus = schedulable_cpus()
    counts = {"cpu_count": cpus}
    for kind, getter in (
        ("intra_op", tf.config.threading.get_intra_op_parallelism_threads),
        ("inter_op", tf.config.threading.get_inter_op_parallelism_threads),
    ):
        setting = int(getter())
        from_env = os.environ.get(f"TF_NUM_{kind.replace('_', '').upper()}_THREADS", "")
        resolved = setting or (int(from_env) if from_env.isdigit() and int(from_env) else cpus)
        counts[f"{kind}_threads_setting"] = setting
        counts[f"{kind}_threads"] = resolved
    return counts


def probe(cpuinfo_path: Path = CPUINFO) -> dict:
    """This process's provenance, the FIELDS that a run's metrics.json records."""
    import keras
    import tensorflow as tf

    cpuinfo = read_cpuinfo(cpuinfo_path)
    cpu = cpu_model(cpuinfo)
    gpus = gpu_names()
    return {
        "device": gpus[0] if gpus else cpu,
        "cpu": cpu,
        "isa": isa_features(cpuinfo),
        **thread_counts(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def describe(metrics: Mapping[str, object]) -> dict[str, str]:
    """Device, ISA, threads, precision and versions of a metrics record as words; "not recorded"
    if absent."""
    isa = metrics.get("isa")
    if isa is not None:
        isa = ", ".join(isa) or f"none of {', '.join(ISA_FLAGS.values())}"
    threads = None
    if "intra_op_threads" in metrics and "inter_op_threads" in metrics:
        threads = f"{metrics['intra_op_threads']} intra-op, {metrics['inter_op_threads']} inter-op"
    versions = None
    if "tensorflow" in metrics and "keras" in metrics:
        versions = f"TensorFlow {metrics['tensorflow']}, Keras {metrics['keras']}"
    words = {
        "device": metrics.get("device"),
        "isa": isa,
        "threads": threads,
        "precision": metrics.get("precision"),
        "versions": versions,
    }
    return {name: NOT_RECORDED if value is None else str(value) for name, value in words.items()}
