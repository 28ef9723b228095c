import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fmnist_lib import cli

# One tiny run, trained once for this module: the train and report tests read the same cache.
TINY_RUN = ("train", "seed-mlp", "--epochs", "1", "--subset", "300", "--batch-size", "64")


def run_cli_process(*args, env=None, timeout=300):
    """Run `python -m fmnist_lib ARGS` in a subprocess and return the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "fmnist_lib", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def run_cli(*args, env=None):
    """Run the command line `python -m fmnist_lib ARGS` in this process, with `env` added to the
    environment meanwhile: a CompletedProcess of its exit status, stdout and stderr.

    It saves a subprocess's start-up (TensorFlow's import takes seconds); the tests that use
    `run_cli_process` check the real entry point, `python -m fmnist_lib`.
    """
    stdout, stderr = io.StringIO(), io.StringIO()
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                status = cli.main([str(arg) for arg in args])
            except SystemExit as exit_:  # argparse's errors and --help
                status = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, status, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, real_data_dir):
    """TINY_RUN trained once into a module cache: (its env, the completed first process)."""
    env = {"FMNIST_RESULTS_DIR": str(tmp_path_factory.mktemp("cli-results"))}
    return env, run_cli(*TINY_RUN, env=env)


def assert_one_line_error(process, *fragments):
    assert process.returncode == 2
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1, process.stderr
    assert "Traceback" not in process.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_data_prints_the_folder_it_found(real_data_dir):
    process = run_cli_process("data", "--no-download")
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == str(real_data_dir)


def test_data_with_a_missing_folder_exits_2_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    process = run_cli("data", "--data-dir", str(missing))
    assert_one_line_error(process, str(missing))


def test_data_with_a_corrupt_file_exits_2_naming_the_file(tmp_path, real_data_dir):
    for name in (
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ):
        (tmp_path / name).symlink_to(real_data_dir / name)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not a gzip file")
    process = run_cli("data", env={"FMNIST_DATA_DIR": str(tmp_path)})
    assert_one_line_error(process, "train-images-idx3-ubyte.gz")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["train", "resnet"], "invalid choice: 'resnet'"),
        (["train", "seed-mlp", "--epochs", "0"], "--epochs"),
        (["train", "seed-mlp", "--seed", "-1"], "--seed"),
        (["train", "seed-mlp", "--batch-size", "many"], "--batch-size"),
        (["train", "seed-mlp", "--learning-rate", "2"], "--learning-rate"),
        (["train"], "model"),
        (["fly"], "invalid choice"),
        (["train", "seed-mlp", "--seeds", "3-1"], "--seeds"),
        (["train", "seed-mlp", "--seeds", "0,2,0"], "--seeds"),
        (["train", "seed-mlp", "--seed", "1", "--seeds", "0-2"], "not allowed with"),
        (["prepare", "--workers", "0"], "--workers"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, fragment):
    assert_one_line_error(run_cli(*args), fragment)


@pytest.mark.parametrize(
    ("text", "seeds"), [("0-9", tuple(range(10))), ("0,2,5", (0, 2, 5)), ("0-2,7", (0, 1, 2, 7))]
)
def test_seeds_are_a_range_a_list_or_both(text, seeds):
    from fmnist_lib.cli import build_parser

    assert build_parser().parse_args(["train", "seed-cnn", "--seeds", text]).seeds == seeds


def test_train_subset_larger_than_the_training_split_exits_2(real_data_dir):
    # In a process of its own: TensorFlow's start-up log must not reach stderr either.
    process = run_cli_process("train", "seed-mlp", "--subset", "60000")
    assert_one_line_error(process, "train_subset")


def test_train_prints_progress_then_one_json_line_and_caches(tiny_run):
    env, first = tiny_run
    assert first.returncode == 0, first.stderr
    assert "seed-mlp epoch 1/1" in first.stderr
    lines = first.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    assert set(report) >= {"test_accuracy", "test_loss", "wall_time_s", "cache_folder"}
    assert report["from_cache"] is False
    assert os.path.isfile(os.path.join(report["cache_folder"], "model.keras"))
    second = json.loads(run_cli(*TINY_RUN, env=env).stdout)
    assert second["from_cache"] is True
    assert second["test_accuracy"] == report["test_accuracy"]


def test_report_lists_cached_runs_as_json_with_the_documented_keys(tiny_run):
    env, trained = tiny_run
    assert trained.returncode == 0, trained.stderr
    process = run_cli("report", "--json", env=env)
    assert process.returncode == 0, process.stderr
    (row,) = json.loads(process.stdout)
    assert set(row) == {
        "model",
        "seed",
        "epochs",
        "batch_size",
        "learning_rate",
        "test_accuracy",
        "test_loss",
        "best_epoch",
        "wall_time_s",
        "device",
        "isa",
        "threads",
        "precision",
        "source",
        "cache_folder",
    }
    assert (row["model"], row["seed"], row["epochs"]) == ("seed-mlp", 0, 1)
    assert "not recorded" not in (row["device"], row["isa"], row["threads"])
    assert row["threads"].endswith("inter-op")
    assert (row["precision"], row["source"]) == ("float32", "trained here")
    assert row["cache_folder"] == json.loads(trained.stdout)["cache_folder"]
    table = run_cli("report", env=env)
    assert "seed-mlp" in table.stdout and "test_accuracy" in table.stdout


def test_a_reported_runs_cached_model_re_evaluates_to_its_test_accuracy(tiny_run, real_data_dir):
    import keras

    from fmnist_lib.data import load_fashion_mnist, to_float

    env, trained = tiny_run
    assert trained.returncode == 0, trained.stderr
    (row,) = json.loads(run_cli("report", "--json", env=env).stdout)
    model = keras.models.load_model(Path(row["cache_folder"]) / "model.keras")
    _, (x_test, y_test) = load_fashion_mnist(real_data_dir)
    _, accuracy = model.evaluate(to_float(x_test), y_test, batch_size=512, verbose=0)
    assert accuracy == pytest.approx(row["test_accuracy"], abs=1e-7)


def test_report_shows_not_recorded_for_a_run_cached_before_provenance(tiny_run, tmp_path):
    _, trained = tiny_run
    entry = Path(json.loads(trained.stdout)["cache_folder"])
    older = tmp_path / "results" / entry.name
    shutil.copytree(entry, older)
    metrics = json.loads((older / "metrics.json").read_text())
    for field in ("device", "isa", "intra_op_threads", "inter_op_threads"):
        del metrics[field]
    (older / "metrics.json").write_text(json.dumps(metrics))
    process = run_cli("report", "--json", env={"FMNIST_RESULTS_DIR": str(older.parent)})
    assert process.returncode == 0, process.stderr
    (row,) = json.loads(process.stdout)
    assert row["device"] == row["isa"] == row["threads"] == "not recorded"


def test_report_on_an_empty_cache_says_so(tmp_path):
    process = run_cli("report", env={"FMNIST_RESULTS_DIR": str(tmp_path)})
    assert process.returncode == 0
    assert "no cached runs" in process.stdout
    assert (
        json.loads(run_cli("report", "--json", env={"FMNIST_RESULTS_DIR": str(tmp_path)}).stdout)
        == []
    )


def test_prepare_keys_prints_the_cache_key_of_every_book_run_and_trains_nothing(tmp_path):
    from fmnist_lib.baselines import BaselineConfig, baseline_key
    from fmnist_lib.experiments import book_configs
    from fmnist_lib.training import run_key

    cache = tmp_path / "results"
    process = run_cli("prepare", "--keys", env={"FMNIST_RESULTS_DIR": str(cache)})
    assert process.returncode == 0, process.stderr
    configs = book_configs()
    expected = [baseline_key(c) if isinstance(c, BaselineConfig) else run_key(c) for c in configs]
    assert process.stdout.splitlines() == expected
    assert len(set(expected)) == len(expected) == len(configs)
    assert any(key.startswith("modern-cnn-") for key in expected)  # every chapter's runs
    assert not cache.exists() or not any(Path(cache).iterdir()), "prepare --keys wrote a result"
