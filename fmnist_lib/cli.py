"""Command line of fmnist_lib: data, browser, train, report, prepare and book.

`python -m fmnist_lib data` finds or fetches the data; `browser` prints the Chromium the
published-book tests drive; `train MODEL` trains one cached run and ends with one JSON line on
stdout (progress goes to stderr); `report` lists the cached runs; `prepare` trains every run the
book uses (`prepare --keys` only prints their cache keys); `book` prepares and then builds the
book. Bad arguments, data and browser problems exit with status 2 and a one-line message, never
a traceback.
"""

import argparse
import contextlib
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from fmnist_lib.browser import BrowserError, find_chromium
from fmnist_lib.cache import results_dir
from fmnist_lib.data import DataError, locate_fashion_mnist

# A light copy of `models.MODELS`'s names, so that `--help` and argument errors answer without
# importing TensorFlow (seconds); tests/test_models.py checks that it equals the registry.
MODEL_NAMES = ("seed-mlp", "seed-cnn")


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a single line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _argument(convert: Callable[[str], object], valid: Callable, expected: str) -> Callable:
    """An argparse type: `convert` the text, then reject it unless `valid`, naming `expected`."""

    def parse(text: str) -> object:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


_positive_int = _argument(int, lambda v: v >= 1, "a positive integer")
_seed = _argument(int, lambda v: v >= 0, "a non-negative integer")
_learning_rate = _argument(float, lambda v: 0 < v < 1, "a number in (0, 1)")


def build_parser() -> argparse.ArgumentParser:
    """The `fmnist_lib` argument parser with its sub-commands."""
    parser = _Parser(prog="python -m fmnist_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="find or fetch Fashion-MNIST and print its folder")
    data.add_argument("--data-dir", help="use only this folder (else $FMNIST_DATA_DIR, ...)")
    data.add_argument(
        "--no-download", action="store_true", help="only look for the files; never download"
    )

    commands.add_parser("browser", help="find Chromium for the published-book tests; print it")

    train = commands.add_parser("train", help="train a registered model (cached) and report")
    train.add_argument("model", choices=MODEL_NAMES, help="registry name of the model")
    train.add_argument("--epochs", type=_positive_int, help="default: the report's setting")
    train.add_argument("--batch-size", type=_positive_int, help="default: 32, as in the report")
    train.add_argument("--learning-rate", type=_learning_rate, help="default: the report's")
    train.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    train.add_argument("--subset", type=_positive_int, help="train on the first N of 55,000")
    train.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")

    report = commands.add_parser("report", help="list the cached training runs")
    report.add_argument("--json", action="store_true", help="a JSON list instead of a table")

    prepare = commands.add_parser("prepare", help="train every run and baseline the book uses")
    prepare.add_argument(
        "--keys", action="store_true", help="only print their cache keys, one a line; no training"
    )
    book = commands.add_parser("book", help="prepare, then build the book into _build/html")
    book.add_argument("--root", default=".", help="the book's folder (default: .)")
    return parser


def _import_quietly(name: str) -> ModuleType:
    """Import a module while discarding what C++ libraries write to fd 2 as they start up."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            return importlib.import_module(name)
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _train(args: argparse.Namespace) -> dict:
    training = _import_quietly("fmnist_lib.training")
    config = training.default_config(
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        train_subset=args.subset,
    )
    with contextlib.redirect_stdout(sys.stderr):
        result = training.run(config, data_dir=args.data_dir, quiet=args.quiet)
    return {
        "model": config.model,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "best_epoch": result.best_epoch,
        "wall_time_s": result.wall_time_s,
        "samples_per_s": result.samples_per_s,
        "from_cache": result.from_cache,
        "cache_folder": str(result.folder),
    }


def _cached_runs() -> list:
    """The cached training runs; an empty cache answers without importing TensorFlow."""
    if not any(results_dir().glob("*/config.json")):
        return []
    return _import_quietly("fmnist_lib.training").list_runs()


def _report(as_json: bool) -> str:
    rows = [
        {
            "model": r.config.model,
            "seed": r.config.seed,
            "epochs": r.config.epochs,
            "batch_size": r.config.batch_size,
            "learning_rate": r.config.learning_rate,
            "test_accuracy": r.test_accuracy,
            "test_loss": r.test_loss,
            "best_epoch": r.best_epoch,
            "wall_time_s": r.wall_time_s,
            "cache_folder": str(r.folder),
        }
        for r in _cached_runs()
    ]
    if as_json:
        return json.dumps(rows)
    if not rows:
        return f"no cached runs in {results_dir()}"
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False, float_format="%.4f")


def _prepare() -> list[tuple[str, float, bool]]:
    experiments = _import_quietly("fmnist_lib.experiments")
    done = experiments.run_steps(experiments.book_steps())
    print(
        "prepared: "
        + ", ".join(f"{label} {'cached' if cached else f'{s:.0f} s'}" for label, s, cached in done),
        flush=True,
    )
    return done


def _cache_keys() -> list[str]:
    """The cache keys of every run and baseline `prepare` trains, in its order; trains nothing."""
    experiments = _import_quietly("fmnist_lib.experiments")
    from fmnist_lib.baselines import baseline_key
    from fmnist_lib.training import run_key

    runs = [run_key(config) for config in experiments.book_runs()]
    return runs + [baseline_key(config) for config in experiments.book_baselines()]


def _book(root: str) -> int:
    started = time.perf_counter()
    done = _prepare()
    prepared = time.perf_counter()
    print("building the book with jupyter-book", flush=True)
    jupyter_book = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    build = subprocess.run([jupyter_book, "build", "--warningiserror", "--keep-going", root])
    finished = time.perf_counter()
    print("\nsummary")
    for label, seconds, cached in done:
        print(f"  {label:<40} {'cached' if cached else f'trained in {seconds:.0f} s'}")
    print(f"  {'training and baselines':<40} {prepared - started:.0f} s")
    print(f"  {'jupyter-book build':<40} {finished - prepared:.0f} s")
    print(f"  {'total':<40} {finished - started:.0f} s")
    if build.returncode == 0:
        print(f"The book is in {os.path.join(root, '_build', 'html', 'index.html')}")
    return build.returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "data":
            print(locate_fashion_mnist(args.data_dir, download=not args.no_download))
        elif args.command == "browser":
            print(find_chromium())
        elif args.command == "train":
            print(json.dumps(_train(args)))
        elif args.command == "report":
            print(_report(args.json))
        elif args.command == "prepare" and args.keys:
            print("\n".join(_cache_keys()))
        elif args.command == "prepare":
            _prepare()
        else:
            return _book(args.root)
    except (DataError, BrowserError, ValueError) as error:
        message = " ".join(str(error).split())
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no partial result was kept", file=sys.stderr)
        return 130
    return 0
