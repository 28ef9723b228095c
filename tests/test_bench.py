import json

import keras
import pytest

from fmnist_lib import bench
from fmnist_lib.bench import (
    forward_flops,
    layer_macs,
    matmul_peak,
    training_flops,
)
from fmnist_lib.models import build_model, build_seed_cnn, build_seed_mlp
from fmnist_lib.registry import MODELS, MODERN_CNN, get_model_spec, report_model_names

# What `bench --json` gives for each model, in this order.
MODEL_KEYS = (
    "model",
    "batch_size",
    "n_images",
    "n_validation",
    "timed_epochs",
    "forward_flops_per_sample",
    "training_flops_per_sample",
    "plain_fit_samples_per_s",
    "loop_samples_per_s",
    "speedup",
    "plain_fit_fraction_of_peak",
    "loop_fraction_of_peak",
)

# The seed CNN by hand: each 3x3 convolution multiplies its kernel once per output pixel (28x28,
# then 14x14 and 7x7 after pooling); the first Dense reads the 7x7x64 flattened maps.
CNN_MACS = (
    28 * 28 * 3 * 3 * 1 * 16
    + 14 * 14 * 3 * 3 * 16 * 32
    + 7 * 7 * 3 * 3 * 32 * 64
    + 3136 * 64
    + 64 * 10
)


def test_forward_flops_of_the_seed_mlp_are_twice_its_multiply_adds():
    assert forward_flops(build_seed_mlp()) == 2 * (784 * 500 + 500 * 250 + 250 * 125 + 125 * 10)


def test_forward_flops_of_the_seed_cnn_count_each_convolution_per_output_pixel():
    assert forward_flops(build_seed_cnn()) == 2 * CNN_MACS == 4_241_152


def test_training_flops_are_three_forward_passes():
    model = build_seed_mlp()
    assert training_flops(model) == 3 * forward_flops(model)


def test_layer_macs_count_a_dense_layer_once_per_position_and_skip_other_layers():
    model = keras.Sequential(
        [keras.Input(shape=(5, 8)), keras.layers.Dense(3), keras.layers.Flatten()]
    )
    dense, flatten = model.layers
    assert layer_macs(dense) == 5 * 8 * 3
    assert layer_macs(flatten) == 0


def test_matmul_peak_is_a_positive_rate_and_rejects_a_bad_size():
    assert matmul_peak(64, repeats=2) > 0
    with pytest.raises(ValueError, match="size"):
        matmul_peak(0)


def test_bench_rejects_a_bad_size_before_measuring():
    with pytest.raises(ValueError, match="rounds"):
        bench.bench(n_images=64, rounds=0)
    with pytest.raises(ValueError, match="n_images"):
        bench.bench(n_images=0)


def test_bench_quick_json_measures_both_loops_of_every_model(real_data_dir, monkeypatch, capsys):
    from fmnist_lib import cli

    monkeypatch.setenv("FMNIST_DATA_DIR", str(real_data_dir))
    status = cli.main(["bench", "--quick", "--json"])  # in this process: no second TF start-up
    output = capsys.readouterr()
    assert status == 0, output.err
    result = json.loads(output.out)
    assert {"device", "isa", "threads", "matmul_peak_gflops", "flop_convention"} <= set(result)
    assert [row["model"] for row in result["models"]] == list(report_model_names())
    for row in result["models"]:
        assert tuple(row) == MODEL_KEYS
        assert (row["n_images"], row["batch_size"]) == (
            bench.QUICK["n_images"],
            MODELS[row["model"]].batch_size,
        )
        assert row["plain_fit_samples_per_s"] > 0 and row["loop_samples_per_s"] > 0
        assert row["speedup"] == pytest.approx(
            row["loop_samples_per_s"] / row["plain_fit_samples_per_s"]
        )
        gflops = row["loop_samples_per_s"] * row["training_flops_per_sample"] / 1e9
        assert row["loop_fraction_of_peak"] == pytest.approx(gflops / result["matmul_peak_gflops"])
    table = bench.format_table(result)
    assert all(name in table for name in report_model_names()) and "speedup" in table


def test_layer_flops_give_the_formula_and_tensorflows_count_for_each_layer():
    table = bench.layer_flops(build_seed_cnn())
    assert list(table["kind"]) == ["Conv2D"] * 3 + ["Dense"] * 2
    assert table["formula"].sum() == 2 * CNN_MACS
    assert (table["formula"] == table["TF profiler"]).all()
    assert table.loc[table.index[1], "output positions"] == 14 * 14
    modern = build_model(get_model_spec(MODERN_CNN))
    per_layer, total = bench.profiled_flops(modern)
    # The profiler's total also counts BatchNorm, pooling and the softmax: a little more.
    assert sum(per_layer) == forward_flops(modern) < total < 1.05 * forward_flops(modern)


def test_frozen_graph_folds_a_models_variables_into_constants():
    # TensorFlow's private convert_to_constants, behind bench.frozen_graph: a release that moves
    # it fails here with frozen_graph's message.
    import tensorflow as tf

    model = build_seed_mlp()
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    traced = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    ops = {node.op for node in bench.frozen_graph(traced).as_graph_def().node}
    assert "MatMul" in ops and "Const" in ops
    assert not ops & {"ReadVariableOp", "VarHandleOp"}


def test_frozen_graph_says_what_is_missing_when_tensorflow_moves_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorflow.python.framework.convert_to_constants", None)
    with pytest.raises(RuntimeError, match="convert_variables_to_constants_v2 from TensorFlow's"):
        bench.frozen_graph(None)


def test_training_rate_and_parallel_rates_measure_positive_rates(real_data_dir, monkeypatch):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(real_data_dir))
    assert bench.training_rate("seed-mlp", 64, 256, 1, data_dir=real_data_dir) > 0
    rates = bench.parallel_rates("seed-mlp", 2, 1, 64, 256, 1)
    assert len(rates) == 2 and all(rate > 0 for rate in rates)


def test_parallel_rates_report_a_failed_subprocess():
    with pytest.raises(RuntimeError, match="subprocess"):
        bench.parallel_rates("no-such-model", 1, 1, 64, 256, 1)
