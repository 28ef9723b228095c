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


def results_dir() -> Path:
    """Where results are cached: `$FMNIST_RESULTS_DIR`, else `results/` at the repository root."""
    if os.environ.get("FMNIST_RESULTS_DIR"):
        return Path(os.environ["FMNIST_RESULTS_DIR"])
    root = Path(__file__).resolve().parents[1]
    return (root if (root / "pyproject.toml").exists() else Path.cwd()) / "results"


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


def produce_entry(folder: Path, files: Iterable[str], write: Callable[[Path], None]) -> bool:
    """Create the entry `folder` by calling `write(tmp)` and renaming; False if already complete."""
    files = tuple(files)
    if is_complete(folder, files):
        return False
    if folder.exists():
        # Entries appear complete by an atomic rename, so an incomplete one was damaged by hand.
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".partial-{folder.name}-", dir=folder.parent))
    partial.chmod(0o755)  # mkdtemp makes it private; the entry is an ordinary results folder
    try:
        write(partial)
        missing = [name for name in files if not (partial / name).is_file()]
        if missing:
            raise RuntimeError(f"cache entry {folder.name} was written without {missing}")
        try:
            partial.rename(folder)
        except OSError:
            if not is_complete(folder, files):  # another process finished first: keep theirs
                raise
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    return True


def write_json(path: Path, value: object) -> None:
    """Write `value` as indented JSON."""
    Path(path).write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> object:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())
