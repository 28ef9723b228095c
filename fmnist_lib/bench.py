"""How fast each registered model trains on this machine, and how near the arithmetic peak.

`bench` measures, side by side in one run, for each of the report's models
(`registry.report_model_names()`, not the tuning variants) at its registry batch size: the
samples per second of an epoch as `training` runs it (training on `n_images` images, then
scoring the whole validation split, with its callbacks), with plain Keras settings
(`training.PLAIN_LOOP`) and with the project's loop (`training.LOOP`), both through the same
`training.compiled_model` and `training.fit`. Samples/s counts training images per second of the
whole epoch, as a run's `metrics.json` does. The first epoch of each (tracing, warm-up) is not
timed; then the two alternate epoch by epoch and the fastest epoch of each counts, so that
another process's load slows both alike and the ratio stays meaningful.
It also measures the machine's float32 matmul peak in TensorFlow and counts each model's FLOPs
per training sample, so each rate becomes a fraction of the peak.

For the speed chapter it also gives: each layer's FLOPs by formula next to TensorFlow's profiler
count (`layer_flops`), the training rate at any batch size and in either precision
(`training_rate`), and the rates of several processes training at once with a given thread count
(`parallel_rates`).

FLOP convention: a multiply-add is 2 FLOPs. A model's forward FLOPs per sample are 2 x the
multiply-adds of its Dense and Conv2D layers, from their kernel and output shapes (biases,
activations, pooling and the loss are left out: they are a few percent at most). A training step
costs about 3 x the forward pass: the forward pass, the gradient with respect to each layer's
input and the gradient with respect to its kernel are each one product of the same size.
"""

import dataclasses
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras
import pandas as pd
import tensorflow as tf

from fmnist_lib import training
from fmnist_lib.models import build_model
from fmnist_lib.provenance import describe, probe
from fmnist_lib.registry import get_model_spec, report_model_names
from fmnist_lib.threads import tensorflow_threads, thread_environment
from fmnist_lib.validation import check_scalar

TRAINING_TO_FORWARD = 3  # forward, input gradient, kernel gradient
# Sizes of a full run and of `--quick` (seconds, for tests and a first look).
FULL = {"n_images": 20_000, "rounds": 3, "matmul_size": 4096}
QUICK = {"n_images": 256, "rounds": 1, "matmul_size": 256}


def layer_macs(layer: keras.layers.Layer) -> int:
    """Multiply-adds per sample of a Dense or Conv2D layer's forward pass; 0 for other layers."""
    if not isinstance(layer, keras.layers.Dense | keras.layers.Conv2D):
        return 0
    # Each kernel weight multiplies once per output position: the output's non-channel extent.
    positions = math.prod(layer.output.shape[1:-1])
    return math.prod(layer.kernel.shape) * positions


def forward_flops(model: keras.Model) -> int:
    """FLOPs per sample of a forward pass: 2 x the multiply-adds of the Dense and Conv2D layers."""
    return 2 * sum(layer_macs(layer) for layer in model.layers)


def training_flops(model: keras.Model) -> int:
    """FLOPs per sample of a training step: about 3 x the forward pass (see the module)."""
    return TRAINING_TO_FORWARD * forward_flops(model)


def layer_flops(model: keras.Model) -> pd.DataFrame:
    """Forward FLOPs per sample of each Dense and Conv2D layer: by the formula of `layer_macs`,
    and as TensorFlow's profiler counts the layer's own MatMul or Conv2D op in the model's graph.
    """
    layers = [layer for layer in model.layers if layer_macs(layer)]
    counted, _ = profiled_flops(model)
    if len(counted) != len(layers):
        raise RuntimeError(
            f"the graph has {len(counted)} MatMul/Conv2D ops for {len(layers)} Dense/Conv2D layers"
        )
    return pd.DataFrame(
        [
            {
                "layer": layer.name,
                "kind": type(layer).__name__,
                "kernel": "x".join(str(d) for d in layer.kernel.shape),
                "output positions": math.prod(layer.output.shape[1:-1]),
                "formula": 2 * layer_macs(layer),
                "TF profiler": ops,
            }
            for layer, ops in zip(layers, counted, strict=True)
        ]
    ).set_index("layer")


def profiled_flops(model: keras.Model) -> tuple[list[int], int]:
    """TensorFlow's own FLOP count of a one-image forward pass: the FLOPs of each MatMul and
    Conv2D op in graph order, and of every op (BatchNorm, bias, pooling, softmax too)."""
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = frozen_graph(traced)
    profiler = tf.compat.v1.profiler
    options = profiler.ProfileOptionBuilder(
        profiler.ProfileOptionBuilder.float_operation()
    ).with_empty_output()
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")  # the v1 profiler announces its deprecation
    try:
        info = profiler.profile(
            graph=graph,
            run_meta=tf.compat.v1.RunMetadata(),
            cmd="graph",
            options=options.build(),
        )
    finally:
        logger.setLevel(level)
    by_name: dict[str, int] = {}
    pending = list(info.children)
    while pending:
        node = pending.pop()
        by_name[node.name] = node.float_ops
        pending.extend(node.children)
    nodes = graph.as_graph_def().node
    products = [by_name.get(n.name, 0) for n in nodes if n.op in ("MatMul", "Conv2D")]
    return products, int(info.total_float_ops)


def frozen_graph(function: "tf.types.experimental.ConcreteFunction") -> tf.Graph:
    """The graph of a traced function with its variables folded in as constants, as the profiler
    needs it.

    TensorFlow has no public API for this in TF2, so this is the package's one import from
    `tensorflow.python`; tests/test_bench.py fails with this message if a release moves it.
    """
    try:
        from tensorflow.python.framework.convert_to_constants import (
            convert_variables_to_constants_v2,
        )
    except ImportError as error:
        raise RuntimeError(
            f"bench.frozen_graph needs convert_variables_to_constants_v2 from TensorFlow's private "
            f"tensorflow.python.framework.convert_to_constants, which TensorFlow "
            f"{tf.__version__} does not have ({error})"
        ) from error
    return convert_variables_to_constants_v2(function).graph


def matmul_peak(size: int = FULL["matmul_size"], repeats: int = 5) -> float:
    """GFLOP/s of the fastest of `repeats` float32 `size` x `size` matmuls, after a warm-up."""
    size = check_scalar(size, "size", int, min_val=1)
    repeats = check_scalar(repeats, "repeats", int, min_val=1)
    a = tf.random.stateless_normal((size, size), seed=(1, 2), dtype=tf.float32)
    b = tf.random.stateless_normal((size, size), seed=(3, 4), dtype=tf.float32)
    tf.matmul(a, b)[0, 0].numpy()  # warm-up; reading one element waits for the product
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        tf.matmul(a, b)[0, 0].numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def epoch_seconds(model: keras.Model, config: training.RunConfig, data: dict) -> float:
    """Wall time of one epoch of `training.fit`: training, then validation and its callbacks."""
    with tempfile.TemporaryDirectory() as folder:
        one_epoch = dataclasses.replace(config, epochs=1)
        history, _, _ = training.fit(model, one_epoch, data, Path(folder) / "best.weights.h5")
    return float(history["time_s"].iloc[0])


def compare_loops(config: training.RunConfig, data: dict, rounds: int) -> tuple[float, float]:
    """Samples/s of plain `fit` and of the project's loop: the fastest of `rounds` epochs each.

    Each model first trains one untimed epoch (tracing, warm-up); then their epochs alternate,
    so that a load from another process slows both alike.
    """
    loops = (training.PLAIN_LOOP, training.LOOP)
    models = [training.compiled_model(config, loop) for loop in loops]
    for model in models:
        epoch_seconds(model, config, data)
    best = [math.inf, math.inf]
    for _ in range(rounds):
        for index, model in enumerate(models):
            best[index] = min(best[index], epoch_seconds(model, config, data))
    n_train = len(data["train"][0])
    return n_train / best[0], n_train / best[1]


def training_rate(
    name: str,
    batch_size: int,
    n_images: int,
    rounds: int,
    precision: str | None = None,
    data_dir: str | None = None,
) -> float:
    """Training samples/s of the project's loop for a registered model at `batch_size`: the
    fastest of `rounds` epochs on `n_images` images after an untimed one, validating on one batch
    (so the rate is training's). A mixed-precision model computes in `precision` ("float32" or
    "bfloat16"; by default this machine's choice, `precision.machine_precision`)."""
    config = training.default_config(name, train_subset=n_images, batch_size=batch_size)
    model = training.compiled_model(config, training.LOOP, precision)
    data = training.prepare_data(config, tuple(model.input_shape[1:]), data_dir)
    x_val, y_val = data["val"]
    data["val"] = (x_val[:batch_size], y_val[:batch_size])
    epoch_seconds(model, config, data)
    best = min(epoch_seconds(model, config, data) for _ in range(rounds))
    return n_images / best


def parallel_rates(
    name: str,
    workers: int,
    threads: int,
    batch_size: int,
    n_images: int,
    rounds: int,
    data_dir: str | None = None,
) -> list[float]:
    """Samples/s of each of `workers` processes that measure `training_rate` at the same time,
    each with `threads` threads: how a machine's cores are best split between runs."""
    command = [sys.executable, "-m", "fmnist_lib.bench", name]
    command += [str(batch_size), str(n_images), str(rounds)]
    environment = {**os.environ, **thread_environment(threads), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if data_dir is not None:
        environment["FMNIST_DATA_DIR"] = str(data_dir)
    processes = [
        subprocess.Popen(
            command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(workers)
    ]
    outputs = [process.communicate() for process in processes]  # waits for every one
    for process, (_, error) in zip(processes, outputs, strict=True):
        if process.returncode != 0:
            last = error.strip().splitlines()[-1:] or ["no message"]
            raise RuntimeError(
                f"measuring {name} in a subprocess failed (exit {process.returncode}): {last[0]}"
            )
    return [float(output.strip().splitlines()[-1]) for output, _ in outputs]


def bench_model(
    name: str, n_images: int, rounds: int, peak_gflops: float, data_dir: str | None = None
) -> dict:
    """One model's row: plain `fit` against the project's loop, in samples/s and share of peak."""
    config = training.default_config(name, train_subset=n_images)
    model = build_model(get_model_spec(name))
    data = training.prepare_data(config, tuple(model.input_shape[1:]), data_dir)
    flops = training_flops(model)
    plain, loop = compare_loops(config, data, rounds)
    return {
        "model": name,
        "batch_size": config.batch_size,
        "n_images": n_images,
        "n_validation": len(data["val"][0]),
        "timed_epochs": rounds,
        "forward_flops_per_sample": forward_flops(model),
        "training_flops_per_sample": flops,
        "plain_fit_samples_per_s": plain,
        "loop_samples_per_s": loop,
        "speedup": loop / plain,
        "plain_fit_fraction_of_peak": plain * flops / 1e9 / peak_gflops,
        "loop_fraction_of_peak": loop * flops / 1e9 / peak_gflops,
    }


def bench(
    n_images: int = FULL["n_images"],
    rounds: int = FULL["rounds"],
    matmul_size: int = FULL["matmul_size"],
    models: tuple[str, ...] | None = None,
    data_dir: str | None = None,
) -> dict:
    """Measure every registered model (or `models`) and the matmul peak, in one process.

    `n_images` training images per epoch, `rounds` timed epochs of each loop after the warm-up.
    """
    n_images = check_scalar(n_images, "n_images", int, min_val=1)
    rounds = check_scalar(rounds, "rounds", int, min_val=1)
    names = (
        report_model_names() if models is None else tuple(get_model_spec(m).name for m in models)
    )
    peak = matmul_peak(matmul_size)
    facts = probe()
    return {
        **describe(facts),
        "cpu": facts["cpu"],
        "matmul_size": matmul_size,
        "matmul_peak_gflops": peak,
        "flop_convention": (
            "forward = 2 x multiply-adds of Dense and Conv2D layers; training = 3 x forward"
        ),
        "models": [bench_model(name, n_images, rounds, peak, data_dir) for name in names],
    }


def format_table(result: dict) -> str:
    """The bench result as a text table, with the machine and its matmul peak above it."""
    lines = [
        f"device: {result['device']} ({result['isa']}; {result['threads']})",
        f"float32 matmul peak (n = {result['matmul_size']}): "
        f"{result['matmul_peak_gflops']:.1f} GFLOP/s",
        f"FLOPs: {result['flop_convention']}",
        "an epoch: "
        + "; ".join(
            f"{row['model']} trains on {row['n_images']:,} images and scores "
            f"{row['n_validation']:,}, fastest of {row['timed_epochs']} timed"
            for row in result["models"]
        ),
        "",
        f"{'model':<10} {'batch':>5} {'MFLOP/sample':>12} {'plain fit/s':>11} {'loop/s':>9} "
        f"{'speedup':>7} {'plain %peak':>11} {'loop %peak':>10}",
    ]
    for row in result["models"]:
        lines.append(
            f"{row['model']:<10} {row['batch_size']:>5} "
            f"{row['training_flops_per_sample'] / 1e6:>12.2f} "
            f"{row['plain_fit_samples_per_s']:>11,.0f} {row['loop_samples_per_s']:>9,.0f} "
            f"{row['speedup']:>6.2f}x {100 * row['plain_fit_fraction_of_peak']:>10.1f}% "
            f"{100 * row['loop_fraction_of_peak']:>9.1f}%"
        )
    return "\n".join(lines)


if __name__ == "__main__":  # `parallel_rates` runs: model batch_size n_images rounds
    tensorflow_threads()  # the pools take their size from TF_NUM_*_THREADS
    model_name, *numbers = sys.argv[1:]
    batch, images, repeats = (int(n) for n in numbers)
    print(training_rate(model_name, batch, images, repeats))
