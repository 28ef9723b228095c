"""Which arithmetic a run trains in: mixed bfloat16 where the hardware has it, else float32.

A model registered for mixed precision (the modern CNN's family) computes in bfloat16 only where
the machine multiplies bfloat16 natively: a CPU with AVX512_BF16 or AMX, or a GPU of compute
capability 8.0 or more (Ampere and later). Elsewhere bfloat16 is emulated through float32
conversions, and the modern CNN trained 5.3x slower than in float32 on an AVX2-only CPU, so it
trains in float32 there. `$FMNIST_PRECISION` (`auto`, `float32` or `bfloat16`) overrides the
choice. The report's models are registered in float32 and always train so.

The choice is made once, when a run trains (`training.compiled_model`), and recorded in its
`metrics.json` as `precision`. It does not enter the cache key, like the CPU kind and the thread
count: one config names one run, so a run trained in bfloat16 on an AVX-512 machine serves a
reader on an AVX2 machine, and `report` and the chapters show the precision of every run they
use. This module needs no TensorFlow except to ask for GPUs (`machine_precision`).
"""

import os
from collections.abc import Mapping, Sequence

PRECISION_VARIABLE = "FMNIST_PRECISION"
SETTINGS = ("auto", "float32", "bfloat16")
PRECISIONS = ("float32", "bfloat16")
# The CPU features (as `provenance.isa_features` names them) with bfloat16 dot products.
BFLOAT16_ISA = ("AMX", "AVX512_BF16")
# NVIDIA GPUs compute bfloat16 natively from compute capability 8.0 (Ampere) on.
BFLOAT16_GPU_CAPABILITY = (8, 0)


def precision_setting(environ: Mapping[str, str] | None = None) -> str:
    """`$FMNIST_PRECISION` checked (default `auto`); ValueError naming the variable otherwise."""
    environ = os.environ if environ is None else environ
    setting = environ.get(PRECISION_VARIABLE, "").strip().lower() or "auto"
    if setting not in SETTINGS:
        raise ValueError(
            f"{PRECISION_VARIABLE}={environ[PRECISION_VARIABLE]!r} is not a precision; "
            f"set it to one of {', '.join(SETTINGS)}, or unset it for auto"
        )
    return setting


def cpu_bfloat16(isa: Sequence[str] | str) -> str | None:
    """The bfloat16 instructions a CPU's ISA list (or its description) names, AMX first; or None."""
    names = isa.replace(",", " ").split() if isinstance(isa, str) else list(isa)
    return next((name for name in BFLOAT16_ISA if name in names), None)


def gpu_bfloat16(capabilities: Sequence[tuple[int, int]]) -> bool:
    """Whether a GPU of these compute capabilities (one per GPU) has native bfloat16."""
    return any(tuple(capability) >= BFLOAT16_GPU_CAPABILITY for capability in capabilities)


def choose_precision(
    setting: str, isa: Sequence[str] | str, gpu_capabilities: Sequence[tuple[int, int]] = ()
) -> str:
    """`float32` or `bfloat16` for a mixed-precision model: the setting, or for `auto` the
    hardware's (a GPU decides when there is one, since TensorFlow trains there)."""
    if setting not in SETTINGS:
        raise ValueError(f"precision must be one of {', '.join(SETTINGS)}, got {setting!r}")
    if setting != "auto":
        return setting
    if gpu_capabilities:
        return "bfloat16" if gpu_bfloat16(gpu_capabilities) else "float32"
    return "bfloat16" if cpu_bfloat16(isa) else "float32"


def gpu_capabilities() -> list[tuple[int, int]]:
    """The compute capability of each GPU TensorFlow sees; [] on a CPU."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        found.append(tuple(details.get("compute_capability", (0, 0))))
    return found


def machine_precision(environ: Mapping[str, str] | None = None) -> str:
    """The precision a mixed-precision model trains in on this machine, by `choose_precision`."""
    from fmnist_lib.provenance import isa_features, read_cpuinfo

    setting = precision_setting(environ)
    if setting != "auto":
        return setting
    return choose_precision(setting, isa_features(read_cpuinfo()), gpu_capabilities())
