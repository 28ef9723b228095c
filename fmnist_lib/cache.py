"""The on-disk results cache: one folder per entry, written whole or not at all.

An entry is produced in a temporary folder beside its final place and renamed into place only
when every file is written, so an interrupted producer never leaves an entry that looks complete.

Every entry is named by `entry_key`, and one rule says when that name changes. It hashes:
1. the config, field by field;
2. the source code of the functions that build what is trained or fitted (a model builder,
   `make_classifier`), so editing an architecture changes the key by itself;
3. a version number bumped by hand whenever a change to the code around them changes the numbers
   (the training loop, the optimizer, the evaluation): a source hash of that code would also
   change with every comment, while a number changes exactly when the results do;
4. the version of the library that does the numerics (Keras, scikit-learn).
Nothing else enters, so a cached entry is reused on any machine; it records its provenance.

A training run's `RunConfig` and a baseline's `BaselineConfig` are both an `EntryConfig`: each
gives its key, its entry's files and how to write them, so the cache (`ensure_entry`) and the Dask
runner (`fmnist_lib.runner`) handle either without asking which it is.
"""

import functools
import hashlib
import inspect
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

T = TypeVar("T")


class EntryConfig(Protocol):
    """A config whose results are one cache entry: a training run or a baseline fit."""

    entry_files: ClassVar[tuple[str, ...]]  # the files a complete entry holds

    def key(self) -> str:
        """The entry's cache key, by `entry_key`'s rule."""
        ...

    def label(self) -> str:
        """A short name for progress lines and summaries."""
        ...

    def write_entry(
        self, folder: Path, data_dir: str | os.PathLike | None = None, quiet: bool = False
    ) -> None:
        """Train or fit the config and write every file of its entry into `folder`."""
        ...


def project_root() -> Path:
    """The project's folder: the repository this package sits in, else the current directory."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()


def results_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Where results are cached: `cache_dir` if given, else `$FMNIST_RESULTS_DIR`, else
    `results/` in the project's folder."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get("FMNIST_RESULTS_DIR"):
        return Path(os.environ["FMNIST_RESULTS_DIR"])
    return project_root() / "results"


def hash_key(prefix: str, identity: dict) -> str:
    """A readable, stable cache key: `prefix-` and 16 hex digits of the identity's JSON hash."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"{prefix}-{digest[:16]}"


def source_hash(*functions: Callable) -> str:
    """A short hash of the source code of `functions`: it changes whenever their code does.

    A `functools.partial` counts as its function's source and the repr of its bound arguments.
    """
    source = "\n".join(_source(function) for function in functions)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _source(function: Callable) -> str:
    """The source code of a function, or of a partial's function with its bound arguments."""
    if isinstance(function, functools.partial):
        bound = f"args={function.args!r} keywords={sorted(function.keywords.items())!r}"
        return f"{_source(function.func)}\n{bound}"
    return inspect.getsource(function)


def entry_key(
    prefix: str,
    config: Mapping[str, object],
    *,
    builders: Iterable[Callable],
    code_version: int,
    libraries: Mapping[str, str],
) -> str:
    """The cache key of an entry, by the module's one rule: config, builder source, version."""
    identity = {
        "config": dict(config),
        "builder_source": source_hash(*builders),
        "code_version": code_version,
        "libraries": dict(libraries),
    }
    return hash_key(prefix, identity)


def is_complete(folder: Path, files: Iterable[str]) -> bool:
    """Whether a cache folder holds every one of `files`."""
    return all((Path(folder) / name).is_file() for name in files)


def write_atomically(path: Path, write: Callable[[Path], T], *, folder: bool = False) -> T:
    """Make the file `path` (a folder, with `folder`) by `write(tmp)` on a temporary one beside
    it, then `os.replace`: a reader sees all of it or none of it. Returns what `write` returns.

    The temporary one is `.partial-<name>-*`, removed if `write` raises; it ends readable by all
    (mode 644, a folder 755), as an ordinary file would be.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".partial-{path.name}-"
    if folder:
        partial = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
        partial.chmod(0o755)  # mkdtemp and mkstemp make it private
    else:
        handle, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
        os.close(handle)
        partial = Path(name)
        partial.chmod(0o644)
    try:
        written = write(partial)
        os.replace(partial, path)
        return written
    finally:
        if partial.is_dir():
            shutil.rmtree(partial)
        else:
            partial.unlink(missing_ok=True)


def produce_entry(folder: Path, files: Iterable[str], write: Callable[[Path], None]) -> bool:
    """Create the entry `folder` by calling `write(tmp)` and renaming; False if already complete."""
    folder, files = Path(folder), tuple(files)
    if is_complete(folder, files):
        return False
    if folder.exists():
        # Entries appear complete by an atomic rename, so an incomplete one was damaged by hand.
        shutil.rmtree(folder)

    def write_whole(partial: Path) -> None:
        write(partial)
        missing = [name for name in files if not (partial / name).is_file()]
        if missing:
            raise RuntimeError(f"cache entry {folder.name} was written without {missing}")

    try:
        write_atomically(folder, write_whole, folder=True)
    except OSError:
        if not is_complete(folder, files):  # another process finished first: keep theirs
            raise
    return True


def entry_folder(config: EntryConfig, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder of a config's entry: `results_dir(cache_dir) / config.key()`."""
    return results_dir(cache_dir) / config.key()


def ensure_entry(
    config: EntryConfig, cache_dir: str | os.PathLike | None = None, **options: object
) -> tuple[Path, bool]:
    """The config's cache folder, first written by `config.write_entry(tmp, **options)` unless
    complete; and whether it was written now."""
    folder = entry_folder(config, cache_dir)
    written = produce_entry(
        folder, config.entry_files, lambda partial: config.write_entry(partial, **options)
    )
    return folder, written


def write_json(path: Path, value: object) -> None:
    """Write `value` as indented JSON."""
    Path(path).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> object:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())
