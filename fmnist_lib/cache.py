"""The on-disk results cache: one folder per entry, written whole or not at all.

An entry is produced in a temporary folder beside its final place and renamed into place only
when every file is written, so an interrupted producer never leaves an entry that looks complete.
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
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
