"""Command line of fmnist_lib: data, browser, train, report, runs, prepare and book.

`python -m fmnist_lib data` finds or fetches the data; `browser` prints the Chromium the
published-book tests drive; `train MODEL` trains one cached run and ends with one JSON line on
stdout (progress goes to stderr); `train --verify KEY` retrains a cached run and compares it
with the entry; `report` lists the cached runs, where each was computed and whether it was
imported; `runs export OUT` writes cached runs as one bundle and `runs import SOURCE` (a path or
URL) checks one and adds its runs to the cache (`fmnist_lib.bundles`);
`runs costs` prints each model's training cost from the cached runs (`fmnist_lib.shards`);
`bench` times plain `fit` against the project's training loop here; `prepare` trains every run the
book uses (`prepare --keys` only prints their cache keys, `prepare --shard K/N` trains the K-th
of N parts of about equal cost, `prepare --plan N` estimates each part's time); `book` prepares
and then builds the book; `train MODEL --seeds 0-9`, `prepare` and `book` train through
`fmnist_lib.runner` on a Dask cluster (`--scheduler`, else `$FMNIST_SCHEDULER`, else a local
one); `execute CHAPTER -p NAME VALUE` runs one chapter with papermill parameters and
`sweep CHAPTER -p NAME V1,V2` runs it once per combination of values, both rejecting unknown
parameter names and values outside a parameter's declared bounds before anything runs
(`execute CHAPTER --help` lists the chapter's parameters, their meaning and bounds).
Bad arguments, data and browser problems and refused bundles exit with status 2 and a one-line
message, never a traceback; a run that fails in `train --seeds`, `prepare` or `book`, or a
`train --verify` that does not reproduce, makes the status 1.
"""

import argparse
import contextlib
import functools
import importlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from fmnist_lib import chapter_params, chapters, registry, shards
from fmnist_lib.browser import BrowserError, find_chromium
from fmnist_lib.cache import results_dir
from fmnist_lib.data import DataError, locate_fashion_mnist

if TYPE_CHECKING:
    from fmnist_lib.runner import Outcome, RunsSummary
    from fmnist_lib.training import RunConfig, RunResult

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
_sha256 = _argument(str.lower, lambda v: re.fullmatch("[0-9a-f]{64}", v), "64 hex digits")
_shard = _argument(shards.parse_shard, lambda v: True, "K/N with 1 <= K <= N, e.g. 2/8")


def _seed_list(text: str) -> tuple[int, ...]:
    """Seeds written as a range `0-9`, a list `0,2,5` or both `0-3,7`; ValueError otherwise."""
    seeds: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        low = int(first)
        high = int(last) if dash else low
        if low < 0 or high < low:
            raise ValueError(f"bad seed range {part!r}")
        seeds.extend(range(low, high + 1))
    return tuple(seeds)


_seeds = _argument(
    _seed_list,
    lambda v: len(set(v)) == len(v),
    "distinct seeds as a range 0-9, a list 0,2,5 or both, 0-3,7",
)


def _add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """--scheduler, --workers, --threads: the Dask cluster that `runner.run_many` trains on."""
    parser.add_argument(
        "--scheduler",
        help="a Dask scheduler, tcp://HOST:8786 (default: $FMNIST_SCHEDULER, else a local cluster)",
    )
    parser.add_argument(
        "--workers", type=_positive_int, help="local cluster: worker processes (default: by cores)"
    )
    parser.add_argument(
        "--threads",
        type=_positive_int,
        help="local cluster: threads per worker (default: runner.DEFAULT_THREADS_PER_WORKER)",
    )


class _ChapterValues(argparse.Action):
    """`-p NAME TEXT` or `-y NAME YAML`: add the values `const(TEXT)` to `values[NAME]`."""

    def __call__(self, parser, namespace, option_values, option_string=None):  # type: ignore[override]
        name, text = option_values
        try:
            parsed = self.const(text)
        except ValueError as error:
            parser.error(f"{option_string} {name}: {error}")
        values = dict(getattr(namespace, self.dest) or {})
        values[name] = [*values.get(name, []), *parsed]
        setattr(namespace, self.dest, values)


class _ChapterHelp(argparse.Action):
    """-h/--help after a chapter: the command's help, then the chapter's parameters with their
    meaning and bounds, as `fmnist_lib.chapter_params` declares them."""

    def __init__(self, option_strings, dest, help=None):  # type: ignore[no-untyped-def]
        super().__init__(
            option_strings, argparse.SUPPRESS, nargs=0, default=argparse.SUPPRESS, help=help
        )

    def __call__(self, parser, namespace, values, option_string=None):  # type: ignore[override]
        chapter = getattr(namespace, "chapter", None)
        if chapter is None:
            listing = f"to list a chapter's parameters: {parser.prog} CHAPTER --help"
        else:
            try:
                listing = chapter_params.describe_chapter(chapter)
            except ValueError as error:
                parser.error(str(error))
        print(f"{parser.format_help()}\n{listing}")
        parser.exit()


def _add_chapter_arguments(parser: argparse.ArgumentParser, sweep: bool) -> None:
    """The chapter, its `-p`/`-y` parameters (several comma-separated values in a sweep) and a
    --help that lists the chapter's parameters (the parser is made with add_help=False)."""
    parser.add_argument("chapter", help="a chapter of _toc.yml, e.g. experiment_cnn")
    parser.add_argument(
        "-h", "--help", action=_ChapterHelp, help="this help; after CHAPTER, its parameters too"
    )
    parse_p = chapters.parse_values if sweep else lambda text: [chapters.parse_value(text)]
    parser.add_argument(
        "-p",
        dest="values",
        nargs=2,
        metavar=("NAME", "V1,V2,..." if sweep else "VALUE"),
        action=_ChapterValues,
        const=parse_p,
        default={},
        help="a parameter's value"
        + ("s, comma-separated" if sweep else "")
        + ", typed as papermill's -p types it (int, float, True, False, None, else text)",
    )
    parser.add_argument(
        "-y",
        dest="values",
        nargs=2,
        metavar=("NAME", "YAML"),
        action=_ChapterValues,
        const=lambda text: [chapters.parse_yaml_value(text)],
        help="one value written in YAML, e.g. -y seeds '[0, 1]'"
        + ("; repeat it for more values" if sweep else ""),
    )


def build_parser() -> argparse.ArgumentParser:
    """The `fmnist_lib` argument parser with its sub-commands."""
    parser = _Parser(prog="python -m fmnist_lib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    data = commands.add_parser("data", help="find or fetch Fashion-MNIST and print its folder")
    data.set_defaults(func=_data_command)
    data.add_argument("--data-dir", help="use only this folder (else $FMNIST_DATA_DIR, ...)")
    data.add_argument(
        "--no-download", action="store_true", help="only look for the files; never download"
    )

    browser = commands.add_parser(
        "browser", help="find Chromium for the published-book tests; print it"
    )
    browser.set_defaults(func=_browser_command)

    train = commands.add_parser("train", help="train a registered model (cached) and report")
    train.set_defaults(func=_train_command)
    train.add_argument(
        "model", nargs="?", choices=tuple(registry.MODELS), help="registry name of the model"
    )
    train.add_argument(
        "--verify", metavar="KEY", help="retrain the cached run KEY and compare (no model then)"
    )
    train.add_argument("--epochs", type=_positive_int, help="default: the report's setting")
    train.add_argument("--batch-size", type=_positive_int, help="default: 32, as in the report")
    train.add_argument("--learning-rate", type=_learning_rate, help="default: the report's")
    seeds = train.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    seeds.add_argument(
        "--seeds", type=_seeds, help="several runs through Dask, e.g. 0-9 or 0,2,5: a JSON list"
    )
    train.add_argument("--subset", type=_positive_int, help="train on the first N of 55,000")
    train.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress lines")
    _add_cluster_arguments(train)

    report = commands.add_parser("report", help="list the cached training runs")
    report.set_defaults(func=_report_command)
    report.add_argument("--json", action="store_true", help="a JSON list instead of a table")

    runs = commands.add_parser("runs", help="export cached runs as a bundle, or import one")
    bundle = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)
    export = bundle.add_parser("export", help="write cached runs into one .tar.gz bundle")
    export.set_defaults(func=_runs_export)
    export.add_argument("out", help="the bundle to write, e.g. runs.tar.gz")
    export.add_argument(
        "--keys", metavar="FILE", help="only these cache keys, one a line (- for stdin)"
    )
    import_ = bundle.add_parser("import", help="check a bundle, then add its runs to the cache")
    import_.set_defaults(func=_runs_import)
    import_.add_argument("source", help="a bundle's path, or its https URL")
    import_.add_argument("--sha256", type=_sha256, help="the bundle's expected SHA-256")
    import_.add_argument("--data-dir", help="folder holding the four Fashion-MNIST files")
    costs = bundle.add_parser(
        "costs", help="core-seconds per image-epoch of each model's cached runs, as JSON"
    )
    costs.set_defaults(func=_runs_costs)

    bench = commands.add_parser("bench", help="time plain fit against the project's loop here")
    bench.set_defaults(func=_bench_command)
    bench.add_argument("--quick", action="store_true", help="a few hundred images: seconds")
    bench.add_argument("--json", action="store_true", help="a JSON object instead of a table")

    prepare = commands.add_parser("prepare", help="train every run and baseline the book uses")
    prepare.set_defaults(func=_prepare_command)
    prepare.add_argument(
        "--keys", action="store_true", help="only print their cache keys, one a line; no training"
    )
    prepare.add_argument(
        "--shard",
        type=_shard,
        metavar="K/N",
        help="only the K-th of N parts of about equal cost (fmnist_lib.shards)",
    )
    prepare.add_argument(
        "--plan",
        type=_positive_int,
        metavar="N",
        help="print the estimated time of each of N shards on --workers x --threads; no training",
    )
    book = commands.add_parser("book", help="prepare, then build the book into _build/html")
    book.set_defaults(func=_book)
    book.add_argument("--root", default=".", help="the book's folder (default: .)")
    for trains in (prepare, book):
        _add_cluster_arguments(trains)

    execute = commands.add_parser(
        "execute", help="run one chapter here with papermill values", add_help=False
    )
    execute.set_defaults(func=_execute)
    _add_chapter_arguments(execute, sweep=False)
    execute.add_argument(
        "-o", "--output", help="the executed notebook (default: _build/executed/CHAPTER.ipynb)"
    )
    sweep = commands.add_parser(
        "sweep", help="run a chapter once per combination of values", add_help=False
    )
    sweep.set_defaults(func=_sweep)
    _add_chapter_arguments(sweep, sweep=True)
    sweep.add_argument("--out", help="folder for the notebooks and sweep.csv (a new one)")
    _add_cluster_arguments(sweep)
    sweep.add_argument(
        "--show",
        type=lambda text: [name.strip() for name in text.split(",")],
        help="print only these glued columns, comma-separated (sweep.csv has them all)",
    )
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


def _data_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`data`: print the folder holding Fashion-MNIST, found or fetched."""
    print(locate_fashion_mnist(args.data_dir, download=not args.no_download))
    return 0


def _browser_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`browser`: print the Chromium that the published-book tests drive."""
    print(find_chromium())
    return 0


def _train_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`train`: one run, one run per seed (`--seeds`), or a cached run retrained (`--verify`)."""
    if args.verify:
        if args.model:
            parser.error("train --verify KEY retrains a cached run; give it without a model")
        return _verify(args)
    if args.model is None:
        parser.error("train needs a model (one of: seed-mlp, seed-cnn, ...) or --verify KEY")
    if args.seeds:
        return _train_seeds(args)
    print(json.dumps(_train(args)))
    return 0


def _train_config(args: argparse.Namespace, seed: int) -> "RunConfig":
    """The run `train` asks for, with `seed`."""
    return _import_quietly("fmnist_lib.training").default_config(
        args.model,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=seed,
        train_subset=args.subset,
    )


def _train(args: argparse.Namespace) -> dict:
    training = _import_quietly("fmnist_lib.training")
    config = _train_config(args, args.seed)
    with contextlib.redirect_stdout(sys.stderr):
        result = training.run(config, data_dir=args.data_dir, quiet=args.quiet)
    return _run_report(result)


def _train_seeds(args: argparse.Namespace) -> int:
    """`train --seeds`: every seed's run through `runner.run_many`; a JSON list; 1 if one failed."""
    training = _import_quietly("fmnist_lib.training")
    runner = _import_quietly("fmnist_lib.runner")
    configs = [_train_config(args, seed) for seed in args.seeds]
    with contextlib.redirect_stdout(sys.stderr):
        summary = runner.run_many(configs, data_dir=args.data_dir, **_cluster_options(args))
    print(
        json.dumps(
            [
                {
                    "seed": o.config.seed,
                    **_run_report(training.load_result(o.folder)),
                    "from_cache": o.status == "cached",
                }
                for o in summary.outcomes
                if o.status != "failed"
            ]
        )
    )
    return 1 if summary.failures else 0


def _cluster_options(args: argparse.Namespace) -> dict:
    """The `run_many` keywords of --scheduler, --workers and --threads."""
    return {
        "scheduler": args.scheduler,
        "n_workers": args.workers,
        "threads_per_worker": args.threads,
    }


def _run_report(result: "RunResult") -> dict:
    """What `train` prints about a finished run, as a JSON object."""
    return {
        "model": result.config.model,
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


def _report_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`report`: the cached runs as a table, or as JSON."""
    print(_report(args.json))
    return 0


def _report(as_json: bool) -> str:
    from fmnist_lib.bundles import entry_source
    from fmnist_lib.provenance import describe

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
            **{
                k: v
                for k, v in describe(r.metrics).items()
                if k in ("device", "isa", "threads", "precision")
            },
            "source": entry_source(r.folder),
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


def _verify(args: argparse.Namespace) -> int:
    """`train --verify KEY`: retrain a cached run, print the comparison as JSON; 1 if it differs."""
    from fmnist_lib import bundles

    _import_quietly("fmnist_lib.training")
    with contextlib.redirect_stdout(sys.stderr):
        record = bundles.verify_run(args.verify, data_dir=args.data_dir)
    print(json.dumps(record))
    return 0 if record["passed"] else 1


def _runs_export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`runs export OUT [--keys FILE]`: one line per entry on stderr, the bundle on stdout."""
    from fmnist_lib import bundles

    keys = None if args.keys is None else bundles.read_keys(args.keys)
    _import_quietly("fmnist_lib.training")
    say = functools.partial(print, file=sys.stderr, flush=True)
    out = bundles.export_bundle(args.out, keys, report=say)
    size = out.stat().st_size / 1e6
    print(f"exported to {out} ({size:.1f} MB, sha256 {bundles.file_sha256(out)})")
    return 0


def _runs_import(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`runs import SOURCE [--sha256 HEX]`: one line per entry on stderr, a summary on stdout."""
    from fmnist_lib import bundles

    bundles.check_source(args.source, args.sha256)  # a wrong path fails before TensorFlow loads
    _import_quietly("fmnist_lib.training")
    say = functools.partial(print, file=sys.stderr, flush=True)
    outcomes = bundles.import_bundle(
        args.source, sha256=args.sha256, data_dir=args.data_dir, report=say
    )
    new = sum(outcome.status == "imported" for outcome in outcomes)
    print(
        f"imported {new} of {len(outcomes)} entries from {args.source} into {results_dir()} "
        f"({len(outcomes) - new} already cached)"
    )
    return 0


def _runs_costs(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`runs costs`: each model's training cost from the cached runs, as JSON."""
    print(json.dumps(shards.costs_from_cache(results_dir()), indent=2))
    return 0


def _bench_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`bench`: the timing table, or JSON."""
    print(_bench(args.quick, args.json))
    return 0


def _bench(quick: bool, as_json: bool) -> str:
    bench = _import_quietly("fmnist_lib.bench")
    result = bench.bench(**(bench.QUICK if quick else bench.FULL))
    return json.dumps(result) if as_json else bench.format_table(result)


def _book_configs(shard: tuple[int, int] | None = None) -> list:
    """Every run and baseline the book uses, or those of shard (K, N) only (`shards.shard`)."""
    configs = _import_quietly("fmnist_lib.experiments").book_configs()
    return configs if shard is None else shards.shard(configs, *shard)


def _prepare_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`prepare`: train the book's runs, or only print their keys (`--keys`) or plan (`--plan`)."""
    if args.plan:
        if args.keys or args.shard:
            parser.error("--plan estimates every shard; give it without --keys and --shard")
        print(_plan(args))
        return 0
    if args.keys:
        print("\n".join(_cache_keys(args.shard)))
        return 0
    return 1 if _prepare(args).failures else 0


def _prepare(args: argparse.Namespace) -> "RunsSummary":
    runner = _import_quietly("fmnist_lib.runner")
    configs = _book_configs(getattr(args, "shard", None))  # `book` has no --shard
    summary = runner.run_many(configs, **_cluster_options(args))
    print(
        "prepared: " + ", ".join(f"{o.label} {_outcome(o)}" for o in summary.outcomes), flush=True
    )
    return summary


def _outcome(outcome: "Outcome") -> str:
    """'cached', 'trained in N s' or 'FAILED: error' for the summaries."""
    if outcome.status == "failed":
        return f"FAILED: {outcome.error}"
    return "cached" if outcome.status == "cached" else f"trained in {outcome.seconds:.0f} s"


def _cache_keys(shard: tuple[int, int] | None = None) -> list[str]:
    """The cache keys of every run and baseline `prepare` trains (of one shard), in its order;
    trains nothing."""
    return [config.key() for config in _book_configs(shard)]


def _plan(args: argparse.Namespace) -> str:
    """`prepare --plan N`: each shard's runs and estimated minutes, as a table."""
    workers = args.workers or shards.RUNNER_WORKERS
    threads = args.threads or shards.RUNNER_THREADS
    rows = shards.plan(_book_configs(), args.plan, workers=workers, threads=threads)
    lines = [
        f"{args.plan} shards, each {workers} worker(s) x {threads} thread(s), estimated from "
        f"shards.RUNNER_COSTS (assumed efficiency {shards.ASSUMED_EFFICIENCY} above 1 thread)",
        f"{'shard':>6} {'runs':>5} {'core-min':>9} {'wall-min':>9} {'longest-run-min':>16}",
    ]
    lines += [
        f"{row['shard']:>6} {row['runs']:>5} {row['core_minutes']:>9.1f} "
        f"{row['wall_minutes']:>9.1f} {row['longest_run_minutes']:>16.1f}"
        for row in rows
    ]
    return "\n".join(lines)


def _book(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    root = args.root
    started = time.perf_counter()
    summary = _prepare(args)
    prepared = time.perf_counter()
    if summary.failures:
        print(f"not building the book: {len(summary.failures)} runs failed", file=sys.stderr)
        return 1
    print("building the book with jupyter-book", flush=True)
    jupyter_book = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    build = subprocess.run([jupyter_book, "build", "--warningiserror", "--keep-going", root])
    finished = time.perf_counter()
    print("\nsummary")
    for outcome in summary.outcomes:
        print(f"  {outcome.label:<45} {_outcome(outcome)}")
    print(f"  {'training and baselines (side by side)':<45} {prepared - started:.0f} s")
    print(f"  {'jupyter-book build':<45} {finished - prepared:.0f} s")
    print(f"  {'total':<45} {finished - started:.0f} s")
    if build.returncode == 0:
        print(f"The book is in {os.path.join(root, '_build', 'html', 'index.html')}")
    return build.returncode


def _execute(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    several = [name for name, values in args.values.items() if len(values) > 1]
    if several:
        raise ValueError(
            f"{', '.join(several)} given more than one value; execute runs the chapter once "
            "(sweep runs it once per combination)"
        )
    parameters = {name: values[0] for name, values in args.values.items()}
    path, execution = chapters.execute_chapter(
        args.chapter, parameters, args.output, functools.partial(print, file=sys.stderr, flush=True)
    )
    if execution.error:
        print(
            f"{parser.prog}: error: {args.chapter}: {execution.error} (see {path})",
            file=sys.stderr,
        )
        return 2 if execution.error.startswith("ParameterError:") else 1
    glued = chapters.glued_scalars(execution.notebook)
    print(json.dumps({"chapter": args.chapter, "notebook": str(path), "glued": glued}))
    return 0


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    plan = chapters.plan_sweep(args.chapter, args.values, args.out)  # checks; runs nothing
    _import_quietly("fmnist_lib.runner")  # it loads TensorFlow, whose start-up log is noise here
    say = functools.partial(print, file=sys.stderr, flush=True)
    try:
        rows = chapters.run_sweep(plan, report=say, **_cluster_options(args))
    except KeyboardInterrupt:
        kept = f"{plan.table} lists the finished runs" if plan.table.exists() else "none finished"
        say(f"{parser.prog}: interrupted; {kept}")
        return 130
    import pandas as pd

    frame = pd.DataFrame(rows).drop(columns="notebook").convert_dtypes()
    if args.show:
        unknown = [name for name in args.show if name not in frame]
        frame = frame[[*args.values, *(n for n in args.show if n in frame), "error"]]
        if unknown:
            print(f"not glued by {args.chapter}: {', '.join(unknown)}", file=sys.stderr)
    print(frame.to_string(index=False))
    print(f"table: {plan.table}")
    failed = chapters.failed_rows(rows)
    if failed:
        print(f"{parser.prog}: {len(failed)} of {len(rows)} combinations failed", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args, parser)  # each sub-command's handler, set by `build_parser`
    except (DataError, BrowserError, ValueError) as error:
        message = " ".join(str(error).split())
        print(f"{parser.prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; no partial result was kept", file=sys.stderr)
        return 130
