"""Run bundles: cache entries as one archive to publish, checked on their way back into a cache.

`export_bundle` writes complete entries of the results cache (training runs and baselines) into
one `.tar.gz`: each entry's files under `<key>/`, and a `manifest.json` giving each entry's kind,
config, files (SHA-256 and size), provenance and the code versions that made its key.

`import_bundle` takes a bundle from a path or a URL (downloaded by pooch, checked against a
SHA-256 when one is given) and checks every entry before any enters the cache:
1. the archive reads to its end and holds only plain files (no absolute path, `..` or link);
2. every file has the manifest's SHA-256 and size, and none is missing or extra;
3. each entry's key, recomputed from its config.json by this code, is its name; otherwise the
   entry was made by other code (the message says which code version differs) or altered;
4. each model re-scores on the test set to its recorded test accuracy and cross-entropy (a
   baseline's saved predictions to its accuracy), within `RESCORE_SAME_KIND` where the entry was
   computed on this kind of CPU, TensorFlow and precision, else within `RESCORE_CROSS_KIND`;
5. only then does each entry enter the cache, by one rename of a folder beside it, with an
   `imported.json` saying where it came from; an entry already complete there is left as it is.
One bad entry refuses the whole bundle, before anything is moved: a bundle is published as one
set of runs, and half of it would build a book of mixed origins. A refusal is a `BundleError`,
a ValueError whose one-line message names the entry, file or URL. An interrupted import leaves
only complete entries. TensorFlow loads only for the steps that need it (3 and 4).

`verify_run` retrains one cached run from its config and compares it with the entry: bit for bit
where it was trained on the same CPU kind, thread counts, precision and versions, else within
`VERIFY_CROSS_KIND`.
"""

import contextlib
import dataclasses
import datetime
import gzip
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.parse
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fmnist_lib.cache import (
    EntryConfig,
    is_complete,
    read_json,
    results_dir,
    source_hash,
    write_atomically,
    write_json,
)
from fmnist_lib.data import N_TEST
from fmnist_lib.provenance import NOT_RECORDED, isa_features, read_cpuinfo
from fmnist_lib.threads import use_threads

BUNDLE_FORMAT = "fmnist-runs-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST = "manifest.json"
IMPORTED = "imported.json"  # written into each imported entry: where it came from, and when
KINDS = ("run", "baseline")
# The metrics.json fields a manifest keeps as an entry's provenance.
PROVENANCE_FIELDS = (
    "device",
    "cpu",
    "isa",
    "intra_op_threads",
    "inter_op_threads",
    "cpu_count",
    "tensorflow",
    "keras",
    "sklearn",
    "precision",
)
# What decides a re-score's numbers beside the model: the kernels (the CPU's vector instructions
# and TensorFlow's version) and the arithmetic (the precision).
RESCORE_KIND_FIELDS = ("isa", "tensorflow", "precision")
# What decides a retrained run's numbers beside its config and the code of its key.
VERIFY_KIND_FIELDS = ("isa", "intra_op_threads", "inter_op_threads", "precision", "tensorflow")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CHUNK = 1 << 20


class BundleError(ValueError):
    """A bundle, or an entry of one, is refused; the message names the entry, file or URL."""


@dataclass(frozen=True)
class Tolerance:
    """How far a recomputed number may be from the recorded one: `accuracy` (absolute) for the
    test accuracy; for any other number the larger of `relative` x |recorded| and `absolute`."""

    accuracy: float
    relative: float = 0.0
    absolute: float = 0.0


# A saved model re-scored with the kernels and precision it was scored with repeats the same
# arithmetic up to float32 rounding (a thread count can still split a sum differently): the
# accuracy must be the same (one image is 1e-4) and the cross-entropy equal to 1e-5 relative.
RESCORE_SAME_KIND = Tolerance(accuracy=1e-6, relative=1e-5)
# Other kernels (another CPU kind or TensorFlow) or another precision move each probability by a
# rounding error, which flips only images whose two top classes were that close: allow 20 of
# the 10,000 test images to change class (the half image more absorbs the float32 rounding of
# a recorded accuracy: 20 flips pass, 21 fail) and 0.01 of mean cross-entropy (2 to 3% of the
# book's 0.3 to 0.5). A wrong model, or altered metrics, is off by far more.
RESCORE_CROSS_KIND = Tolerance(accuracy=20.5 / N_TEST, absolute=0.01)
# Retraining on the same CPU kind, thread counts, precision and versions repeats every step.
VERIFY_SAME_KIND = Tolerance(accuracy=0.0)
# Elsewhere training diverges chaotically from the first sum rounded otherwise, and the two runs
# can end as far apart as two seeds: this is a sanity check that the entry is a run of its
# config (not another model, recipe or data), not identity. Test accuracy within 0.01 (100 test
# images), every other number within 10% of its cached value.
VERIFY_CROSS_KIND = Tolerance(accuracy=0.01, relative=0.10)


@dataclass(frozen=True)
class ImportOutcome:
    """What became of one entry of a bundle: "imported" or "already cached", and its check."""

    key: str
    kind: str
    status: str
    folder: Path
    check: str


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def entry_class(kind: str) -> type[EntryConfig]:
    """The config class of an entry of `kind`: `RunConfig` for "run", `BaselineConfig` for
    "baseline"; BundleError for another kind."""
    if kind == "run":
        from fmnist_lib.training import RunConfig

        return RunConfig
    if kind == "baseline":
        from fmnist_lib.baselines import BaselineConfig

        return BaselineConfig
    raise BundleError(f"unknown entry kind {kind!r}; expected one of {', '.join(KINDS)}")


def entry_files(kind: str) -> tuple[str, ...]:
    """The files a complete entry of `kind` ("run" or "baseline") holds."""
    return entry_class(kind).entry_files


def entry_kind(key: str) -> str:
    """An entry's kind from its key: "baseline" for `baselines.baseline_key`'s, else "run"."""
    return "baseline" if key.startswith("baseline-") else "run"


def entry_config(kind: str, settings: Mapping[str, object]) -> EntryConfig:
    """The `RunConfig` or `BaselineConfig` of an entry's config.json; BundleError if invalid."""
    config_class = entry_class(kind)
    try:
        return config_class(**settings)
    except (TypeError, ValueError) as error:
        raise BundleError(f"not a valid {kind} config for this code ({error})") from None


def code_identity(config: object) -> dict[str, object]:
    """What, beside the config, makes its cache key with this code: the code version, the builder
    source hash and the version of the numerical library (`cache.entry_key`'s rule)."""
    from fmnist_lib import baselines, models, registry, training

    if isinstance(config, baselines.BaselineConfig):
        import sklearn

        return {
            "baseline_code_version": baselines.BASELINE_CODE_VERSION,
            "builder_source": source_hash(baselines.make_classifier),
            "sklearn": sklearn.__version__,
        }
    import keras

    spec = registry.get_model_spec(config.model)
    return {
        "training_code_version": training.TRAINING_CODE_VERSION,
        "builder_source": source_hash(*models.builder_code(spec)),
        "keras": keras.__version__,
    }


def entry_source(folder: Path) -> str:
    """Where a cache entry came from: "trained here", or "imported from SOURCE"."""
    try:
        return f"imported from {read_json(Path(folder) / IMPORTED)['source']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "trained here"


def read_keys(path: str) -> list[str]:
    """The cache keys of a file, one a line as `prepare --keys` prints them (`-`: stdin); blank
    lines are ignored."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise BundleError(f"cannot read the keys file {path}: {error.strerror}") from None
    return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))


# Export.


def export_bundle(
    out: Path,
    keys: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    report: Callable[[str], None] | None = None,
) -> Path:
    """Write the entries `keys` (default: every complete, current entry) of the cache as one
    `.tar.gz` bundle at `out`, written beside it and renamed when whole; return its path."""
    root = results_dir(cache_dir)
    say = report or (lambda line: None)
    chosen = _chosen_keys(root, keys, say)
    entries = []
    for number, key in enumerate(chosen, 1):
        entries.append(manifest_entry(root / key))
        size = sum(record["size"] for record in entries[-1]["files"].values())
        say(f"[{number}/{len(chosen)}] {key}: {entries[-1]['kind']}, {size / 1e6:.1f} MB")
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "created": _now(),
        "entries": entries,
    }

    def write(partial: Path) -> None:
        with (
            open(partial, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw) as packed,  # no temporary name
            tarfile.open(fileobj=packed, mode="w") as tar,
        ):
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=2, sort_keys=True).encode())
            for entry in entries:
                for name in entry["files"]:
                    data = (root / entry["key"] / name).read_bytes()
                    _add_bytes(tar, f"{entry['key']}/{name}", data)

    write_atomically(Path(out), write)
    return Path(out)


def manifest_entry(folder: Path) -> dict:
    """An entry's manifest record: key, kind, config, files, provenance and code versions."""
    key, kind = folder.name, entry_kind(folder.name)
    settings = read_json(folder / "config.json")
    metrics = read_json(folder / "metrics.json")
    return {
        "key": key,
        "kind": kind,
        "config": settings,
        "files": {
            name: {"sha256": file_sha256(folder / name), "size": (folder / name).stat().st_size}
            for name in entry_files(kind)
        },
        "provenance": {
            **{name: metrics[name] for name in PROVENANCE_FIELDS if name in metrics},
            "precision": metrics.get("precision", NOT_RECORDED),
        },
        "code": code_identity(entry_config(kind, settings)),
    }


def _chosen_keys(root: Path, keys: Sequence[str] | None, say: Callable[[str], None]) -> list:
    """The keys to export: those given, each checked, else every complete, current entry."""
    if keys is not None:
        if not keys:
            raise BundleError("no cache keys given to export")
        for key in keys:
            _check_exportable(root, key)
        return list(dict.fromkeys(keys))
    chosen = []
    folders = sorted(root.iterdir()) if root.is_dir() else []
    for folder in folders:
        if folder.name.startswith(".") or not folder.is_dir():
            continue
        try:
            _check_exportable(root, folder.name)
        except BundleError as error:
            say(f"skipped: {error}")
            continue
        chosen.append(folder.name)
    if not chosen:
        raise BundleError(f"no complete cache entries to export in {root}")
    return chosen


def _check_exportable(root: Path, key: str) -> None:
    """BundleError unless `root/key` is a complete entry whose key this code still gives."""
    kind = entry_kind(key)
    if not _KEY.fullmatch(key) or not is_complete(root / key, entry_files(kind)):
        raise BundleError(f"no complete cache entry {key!r} in {root}")
    try:
        current = entry_config(kind, read_json(root / key / "config.json")).key()
    except BundleError as error:
        raise BundleError(f"cache entry {key}: {error}") from None
    if current != key:
        raise BundleError(
            f"cache entry {key} was made by other code (this code gives its config the key "
            f"{current}); an import would refuse it"
        )


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add `data` to `tar` as the plain file `name` (mode 644, no owner)."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, int(datetime.datetime.now().timestamp())
    tar.addfile(info, io.BytesIO(data))


# Import.


def import_bundle(
    source: str,
    cache_dir: Path | None = None,
    *,
    sha256: str | None = None,
    data_dir: str | os.PathLike | None = None,
    report: Callable[[str], None] | None = None,
) -> list[ImportOutcome]:
    """Check every entry of the bundle at `source` (a path, or an https URL, optionally ending in
    `#sha256=HEX`), then move them all into the cache; BundleError, and nothing moved, if one
    fails a check. `sha256`: the archive's expected SHA-256. One `report` line per entry."""
    root = results_dir(cache_dir)
    say = report or (lambda line: None)
    created = [folder for folder in (root, *root.parents) if not folder.exists()]
    with tempfile.TemporaryDirectory(prefix="fmnist-bundle-") as download:
        archive = fetch_archive(source, Path(download), sha256)
        digest = file_sha256(archive)
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".import-", dir=root))
        try:
            manifest = read_archive(archive, staging, source)
            checks = check_entries(manifest, staging, data_dir)
            stamp = {"source": source, "archive_sha256": digest, "imported_utc": _now()}
            for entry in manifest:
                write_json(staging / entry["key"] / IMPORTED, stamp)
            outcomes = []
            for number, entry in enumerate(manifest, 1):
                key, kind = entry["key"], entry["kind"]
                try:
                    moved = move_entry(staging / key, root / key, entry_files(kind))
                except OSError as error:
                    raise BundleError(f"cannot move entry {key} into {root}: {error}") from None
                status = "imported" if moved else "already cached"
                outcomes.append(ImportOutcome(key, kind, status, root / key, checks[key]))
                say(f"[{number}/{len(manifest)}] {key}: {status} ({checks[key]})")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            for folder in created:  # a refused import leaves no empty results/ behind
                with contextlib.suppress(OSError):
                    folder.rmdir()
    return outcomes


def move_entry(staged: Path, folder: Path, files: Sequence[str]) -> bool:
    """Rename the checked entry `staged` into place as `folder`; False if already complete."""
    if is_complete(folder, files):
        return False
    if folder.exists():  # entries appear whole by a rename, so this one was damaged by hand
        shutil.rmtree(folder)
    staged.rename(folder)
    return True


def fetch_archive(source: str, folder: Path, sha256: str | None = None) -> Path:
    """The bundle at `source` as a local file: a path as it is, a URL downloaded by pooch into
    `folder`; checked against `sha256` (or a URL's `#sha256=HEX`) when one is given."""
    address, expected = check_source(source, sha256)
    if address is None:
        path = Path(source)
        if expected and file_sha256(path) != expected:
            raise BundleError(f"{source}: its SHA-256 is {file_sha256(path)}, not {expected}")
        return path
    import pooch

    try:
        with _quiet(pooch.get_logger()):
            path = pooch.retrieve(
                address,
                known_hash=f"sha256:{expected}" if expected else None,
                fname="bundle.tar.gz",
                path=folder,
                downloader=pooch.HTTPDownloader(timeout=60),
            )
    except ValueError:  # pooch's hash mismatch
        raise BundleError(f"{address}: the download's SHA-256 is not {expected}") from None
    except OSError as error:  # requests' errors are OSErrors
        reason = " ".join(str(error).split())
        raise BundleError(f"cannot download {address}: {type(error).__name__}: {reason}") from None
    return Path(path)


def check_source(source: str, sha256: str | None = None) -> tuple[str | None, str | None]:
    """(the URL without its fragment, or None for a path; the expected SHA-256 or None), after
    the checks that need no download: the path exists, the URL is https (or http from this
    machine), the SHA-256 (given, or a URL's `#sha256=HEX`) is 64 hex digits."""
    url = urllib.parse.urlsplit(source)
    if url.scheme not in ("http", "https"):
        if not Path(source).is_file():
            raise BundleError(f"no bundle at {source}: the file does not exist")
        return None, _checked_sha256(sha256, source)
    fragment = urllib.parse.parse_qs(url.fragment).get("sha256", [None])[0]
    if url.scheme == "http" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise BundleError(f"{source}: plain http is accepted from this machine only; use https")
    address = urllib.parse.urlunsplit(url._replace(fragment=""))
    return address, _checked_sha256(sha256 or fragment, source)


def _checked_sha256(text: str | None, source: str) -> str | None:
    """A SHA-256 as 64 lowercase hex digits, or None; BundleError naming `source` otherwise."""
    if text is None:
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise BundleError(f"{source}: a SHA-256 is 64 hex digits, got {text!r}")
    return text.lower()


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Hold `logger` (pooch's) at WARNING: its INFO lines would break the one-line reports."""
    level = logger.level
    logger.setLevel("WARNING")
    try:
        yield
    finally:
        logger.setLevel(level)


def read_archive(archive: Path, staging: Path, source: str) -> list[dict]:
    """Extract a bundle's plain files into `staging`, check them against its manifest (steps 1
    and 2) and return the manifest's entries."""
    found = _extract(archive, staging, source)
    if MANIFEST not in found:
        raise BundleError(f"{source} is not a runs bundle: it has no {MANIFEST}")
    try:
        manifest = json.loads((staging / MANIFEST).read_text())
        entries = _manifest_entries(manifest, source)
    except BundleError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise BundleError(f"{source}: {MANIFEST} is malformed ({error!r})") from None
    listed = {f"{e['key']}/{name}": record for e in entries for name, record in e["files"].items()}
    extra = sorted(set(found) - set(listed) - {MANIFEST})
    if extra:
        raise BundleError(f"{source}: {extra[0]} is in the archive but not in its manifest")
    missing = sorted(set(listed) - set(found))
    if missing:
        raise BundleError(f"{source}: {missing[0]} is listed in the manifest but missing")
    for name, record in listed.items():
        if found[name] != (record["sha256"], record["size"]):
            raise BundleError(
                f"{source}: {name} does not match the manifest (SHA-256 {found[name][0][:16]}..., "
                f"expected {str(record['sha256'])[:16]}...); the file was altered or damaged"
            )
    return entries


def _manifest_entries(manifest: dict, source: str) -> list[dict]:
    """The manifest's entries, after checking its format and each entry's kind, key and files."""
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{source}: {MANIFEST} is not a {BUNDLE_FORMAT} manifest")
    if manifest.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"{source}: bundle format version {manifest.get('format_version')!r}; this code "
            f"reads version {BUNDLE_FORMAT_VERSION}"
        )
    entries = list(manifest["entries"])
    keys = [entry["key"] for entry in entries]
    if not entries or len(set(keys)) != len(keys):
        raise BundleError(f"{source}: {MANIFEST} lists no entries, or one twice")
    for entry in entries:
        key, kind = entry["key"], entry["kind"]
        if not _KEY.fullmatch(str(key)) or kind not in KINDS or kind != entry_kind(key):
            raise BundleError(f"{source}: entry {key!r} of kind {kind!r} is not a cache entry")
        if sorted(entry["files"]) != sorted(entry_files(kind)):
            raise BundleError(
                f"{source}: entry {key} lists {sorted(entry['files'])}; a {kind} entry has "
                f"{sorted(entry_files(kind))}"
            )
    return entries


def _extract(archive: Path, staging: Path, source: str) -> dict[str, tuple[str, int]]:
    """Extract every member into `staging`, refusing links and paths that leave it (step 1);
    {member name: (SHA-256, size)} of the files."""
    found: dict[str, tuple[str, int]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = _member_name(member, source)
                if member.isdir():
                    continue
                if name in found:
                    raise BundleError(f"{source}: {name} is in the archive twice")
                target = staging.joinpath(*PurePosixPath(name).parts)
                target.parent.mkdir(exist_ok=True)
                with tar.extractfile(member) as data, open(target, "wb") as out:
                    found[name] = _copy_hashing(data, out)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise BundleError(
            f"cannot read the bundle {source}: it is truncated or not a .tar.gz ({error})"
        ) from None
    except OSError as error:
        raise BundleError(f"cannot extract the bundle {source}: {error}") from None
    return found


def _member_name(member: tarfile.TarInfo, source: str) -> str:
    """A member's name, if it is a plain file `manifest.json` or `KEY/FILE`, or a folder `KEY`."""
    path = PurePosixPath(member.name)
    if member.issym() or member.islnk():
        raise BundleError(f"{source}: member {member.name} is a link; a bundle holds plain files")
    if not (member.isfile() or member.isdir()):
        raise BundleError(f"{source}: member {member.name} is not a plain file")
    if path.is_absolute() or ".." in path.parts or "\\" in member.name:
        raise BundleError(f"{source}: member {member.name} would be written outside its folder")
    depth_ok = len(path.parts) == 1 if member.isdir() else len(path.parts) == 2
    if path.as_posix() == MANIFEST and member.isfile():
        return MANIFEST
    if not depth_ok or not all(_KEY.fullmatch(part) for part in path.parts):
        raise BundleError(f"{source}: member {member.name} is not KEY/FILE of a cache entry")
    return path.as_posix()


def _copy_hashing(data: io.BufferedReader, out: io.BufferedWriter) -> tuple[str, int]:
    """Copy `data` to `out`; the SHA-256 and the size of what was copied."""
    digest, size = hashlib.sha256(), 0
    for chunk in iter(lambda: data.read(_CHUNK), b""):
        digest.update(chunk)
        out.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def check_entries(
    entries: Sequence[dict], staging: Path, data_dir: str | os.PathLike | None = None
) -> dict[str, str]:
    """Steps 3 and 4 for every extracted entry, every key first; {key: how it re-scored}."""
    from fmnist_lib.data import load_fashion_mnist

    configs = {entry["key"]: check_key(entry, staging / entry["key"]) for entry in entries}
    _, test = load_fashion_mnist(data_dir)
    checks = {}
    for entry in entries:
        key, folder = entry["key"], staging / entry["key"]
        config, metrics = configs[key]
        if entry["kind"] == "baseline":
            checks[key] = rescore_baseline(key, folder, metrics, test)
        else:
            checks[key] = rescore_run(key, folder, config, metrics, test)
    return checks


def check_key(entry: dict, folder: Path) -> tuple[object, dict]:
    """Step 3 for one extracted entry: BundleError naming it unless this code gives its config
    its key; its config and metrics."""
    key, kind = entry["key"], entry["kind"]
    try:
        config = entry_config(kind, read_json(folder / "config.json"))
        metrics = read_json(folder / "metrics.json")
    except ValueError as error:  # JSONDecodeError and BundleError both are
        raise BundleError(f"entry {key}: {error}") from None
    current = config.key()
    if current != key:
        raise BundleError(f"entry {key}: {_stale_reason(entry, config, current)}")
    if not isinstance(metrics, dict):
        raise BundleError(f"entry {key}: metrics.json is not a JSON object")
    return config, metrics


def _stale_reason(entry: dict, config: object, current: str) -> str:
    """Why an entry's key is not the one this code gives its config: which code differs."""
    here, made = code_identity(config), entry.get("code", {})
    differ = [
        f"{name} {here[name]} here, {made.get(name, NOT_RECORDED)} in the bundle"
        for name in here
        if made.get(name) != here[name]
    ]
    if differ:
        return f"made by other code ({'; '.join(differ)}); this code gives it the key {current}"
    return f"its config.json gives the key {current} with this code; it was altered"


def rescore_baseline(key: str, folder: Path, metrics: Mapping, test: tuple) -> str:
    """Step 4 for a baseline: the accuracy of its saved test predictions against its record;
    `test` is (x_test, y_test)."""
    import numpy as np

    y_test = test[1]
    try:
        predictions = np.load(folder / "test_predictions.npy", allow_pickle=False)
    except ValueError as error:
        raise BundleError(f"entry {key}: test_predictions.npy does not load ({error})") from None
    if predictions.shape != y_test.shape:
        raise BundleError(f"entry {key}: test_predictions.npy has shape {predictions.shape}")
    scores = {"test_accuracy": float((predictions == y_test).mean())}
    _require_agreement(key, metrics, scores, RESCORE_SAME_KIND, "exactly, on any CPU")
    return f"predictions re-scored: accuracy {scores['test_accuracy']:.4f}"


def rescore_run(key: str, folder: Path, config: object, metrics: Mapping, test: tuple) -> str:
    """Step 4 for a training run: its model.keras scored on `test` (x_test, y_test) against
    metrics.json, within RESCORE_SAME_KIND or RESCORE_CROSS_KIND by where it was scored."""
    import keras
    import numpy as np

    from fmnist_lib import training
    from fmnist_lib.data import to_float
    from fmnist_lib.evaluation import EVALUATION_BATCH, cross_entropy

    try:
        model = keras.models.load_model(folder / "model.keras", compile=False)
    except Exception as error:  # Keras raises many kinds for a file it cannot read
        raise BundleError(f"entry {key}: model.keras does not load ({error})") from None
    x_test, y_test = test
    x = to_float(x_test).reshape((-1, *model.input_shape[1:]))
    probabilities = np.asarray(
        model.predict(x, batch_size=EVALUATION_BATCH, verbose=0), dtype=np.float32
    )
    scores = {
        "test_accuracy": float((probabilities.argmax(axis=1) == y_test).mean()),
        "test_cross_entropy": cross_entropy(probabilities, y_test),
    }
    differ = rescore_differences(metrics, config.model, training.model_precision(model))
    mode = "cross kind" if differ else "same kind"
    _require_agreement(key, metrics, scores, rescore_tolerance(differ), mode)
    return (
        f"re-scored: accuracy {scores['test_accuracy']:.4f}, cross-entropy "
        f"{scores['test_cross_entropy']:.4f}, {_mode_words(mode, differ)}"
    )


def rescore_differences(
    metrics: Mapping[str, object], model: str, saved_precision: str | None = None
) -> list[str]:
    """What differs between where a run of `model` was scored (its metrics.json) and this
    machine, for a re-score: the CPU's vector instructions, TensorFlow and the precision.

    A run cached before its precision was recorded computed in its saved model's policy
    (`saved_precision`, when known).
    """
    recorded = {**metrics, "precision": metrics.get("precision", saved_precision or NOT_RECORDED)}
    here = {
        "isa": isa_features(read_cpuinfo()),
        "tensorflow": _tensorflow_version(),
        "precision": precision_here(model),
    }
    return kind_differences(recorded, here, RESCORE_KIND_FIELDS)


def rescore_tolerance(differences: Sequence[str]) -> Tolerance:
    """RESCORE_SAME_KIND when nothing differs (`rescore_differences`), else RESCORE_CROSS_KIND:
    how far a cached model, scored again here, may be from its recorded test scores."""
    return RESCORE_CROSS_KIND if differences else RESCORE_SAME_KIND


def _require_agreement(
    key: str, metrics: Mapping, scores: Mapping[str, float], tolerance: Tolerance, mode: str
) -> None:
    """BundleError naming the entry unless each re-score is within `tolerance` of its record."""
    missing = [name for name in scores if not isinstance(metrics.get(name), int | float)]
    if missing:
        raise BundleError(f"entry {key}: metrics.json records no {missing[0]}")
    recorded = {name: float(metrics[name]) for name in scores}
    for name in out_of_tolerance(recorded, scores, tolerance):
        raise BundleError(
            f"entry {key}: the model re-scores to {name} {scores[name]:.6f}, but metrics.json "
            f"records {recorded[name]:.6f} (tolerance {_allowed(name, recorded[name], tolerance):g}"
            f", {mode})"
        )


def _mode_words(mode: str, differ: Sequence[str]) -> str:
    """'same CPU kind' or 'cross kind: what differs'."""
    return "same CPU kind" if mode == "same kind" else f"cross kind: {'; '.join(differ)}"


def precision_here(model: str) -> str:
    """The precision a run of the registered `model` trains in on this machine."""
    from fmnist_lib.precision import machine_precision
    from fmnist_lib.registry import get_model_spec

    registered = get_model_spec(model).precision
    return "float32" if registered == "float32" else machine_precision()


def _tensorflow_version() -> str:
    """TensorFlow's version, imported when first asked."""
    import tensorflow as tf

    return tf.__version__


def kind_differences(
    recorded: Mapping[str, object], here: Mapping[str, object], fields: Sequence[str]
) -> list[str]:
    """What of `fields` differs between where an entry was computed and here, one phrase each;
    a field the entry did not record differs."""
    return [
        f"{name}: {_words(recorded.get(name, NOT_RECORDED))} in the entry, {_words(here[name])} "
        "here"
        for name in fields
        if recorded.get(name, NOT_RECORDED) != here[name]
    ]


def _words(value: object) -> str:
    """A provenance value as words: a list joined with commas."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def _allowed(name: str, recorded: float, tolerance: Tolerance) -> float:
    """The largest difference `tolerance` allows for the number `name` recorded as `recorded`."""
    if name == "test_accuracy":
        return tolerance.accuracy
    return max(tolerance.relative * abs(recorded), tolerance.absolute)


def out_of_tolerance(
    recorded: Mapping[str, float], recomputed: Mapping[str, float], tolerance: Tolerance
) -> list[str]:
    """The names whose recomputed value is farther from the recorded one than `tolerance`
    allows (two NaNs agree); a name missing from `recomputed` is out."""
    out = []
    for name, value in recorded.items():
        new = recomputed.get(name, math.nan)
        both_nan = math.isnan(value) and math.isnan(new)
        if not both_nan and not abs(new - value) <= _allowed(name, value, tolerance):
            out.append(name)
    return out


def _now() -> str:
    """The time now in UTC, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


# Verification by retraining.


def verify_run(
    key: str, cache_dir: Path | None = None, data_dir: str | os.PathLike | None = None
) -> dict:
    """Retrain the cached (or imported) run `key` from its config.json in a temporary folder and
    compare its history (every column but time_s) and test metrics with the entry's.

    TensorFlow first takes the entry's recorded thread counts (when it has not started yet), and a
    mixed-precision model trains in the entry's precision where this machine has it natively.
    Where the CPU kind, thread counts, precision and TensorFlow version all match the entry's,
    the numbers must be equal bit for bit (VERIFY_SAME_KIND). Elsewhere training diverges
    chaotically from the first sum rounded otherwise, so the check is a sanity check within
    VERIFY_CROSS_KIND, not identity. Returns the mode, what differs, the largest differences and
    whether it passed.
    """
    from fmnist_lib import training

    root = results_dir(cache_dir)
    folder = root / key
    if entry_kind(key) != "run":
        raise BundleError(f"{key} is a baseline; verify retrains training runs")
    if not is_complete(folder, training.ENTRY_FILES):
        raise BundleError(f"no complete training run {key!r} in {root}")
    recorded = read_json(folder / "metrics.json")
    config = training.RunConfig(**read_json(folder / "config.json"))
    use_threads(recorded.get("intra_op_threads"), recorded.get("inter_op_threads"))
    with tempfile.TemporaryDirectory(prefix="fmnist-verify-") as scratch:
        fresh = Path(scratch)
        precision = _verify_precision(recorded)
        training.train_into(config, fresh, data_dir=data_dir, quiet=True, precision=precision)
        return compare_runs(folder, fresh)


def compare_runs(cached: Path, fresh: Path) -> dict:
    """`verify_run`'s comparison of the entry `cached` with the retrained entry `fresh`."""
    recorded, retrained = read_json(cached / "metrics.json"), read_json(fresh / "metrics.json")
    differ = kind_differences(recorded, retrained, VERIFY_KIND_FIELDS)
    tolerance = VERIFY_CROSS_KIND if differ else VERIFY_SAME_KIND
    old, new = _compared_numbers(cached), _compared_numbers(fresh)
    mismatches = out_of_tolerance(old, new, tolerance)
    mismatches += [f"{name} (not in the cached entry)" for name in new if name not in old]
    gaps = {name: abs(new.get(name, math.nan) - value) for name, value in old.items()}
    largest = sorted((g, n) for n, g in gaps.items() if not math.isnan(g))[::-1][:5]
    return {
        "key": cached.name,
        "mode": "cross kind" if differ else "same kind",
        "kind_differences": differ,
        "tolerance": dataclasses.asdict(tolerance),
        "compared": len(old),
        "largest_differences": {name: gap for gap, name in largest},
        "mismatches": mismatches,
        "passed": not mismatches,
    }


def _compared_numbers(folder: Path) -> dict[str, float]:
    """An entry's numbers that `verify_run` compares: the history (but time_s) and test metrics."""
    import pandas as pd

    history = pd.read_csv(folder / "history.csv", index_col="epoch")
    numbers = {
        f"history {column} epoch {epoch}": float(value)
        for column in history.columns
        if column != "time_s"
        for epoch, value in history[column].items()
    }
    metrics = read_json(folder / "metrics.json")
    numbers.update(
        {
            name: float(value)
            for name, value in metrics.items()
            if name.startswith(("test_", "best_test_")) and isinstance(value, int | float)
        }
    )
    return numbers


def _verify_precision(recorded: Mapping[str, object]) -> str | None:
    """The entry's precision where this machine computes it natively, else None (its own)."""
    from fmnist_lib.precision import choose_precision, gpu_capabilities

    wanted = recorded.get("precision")
    native = choose_precision("auto", isa_features(read_cpuinfo()), gpu_capabilities())
    return wanted if wanted == "float32" or wanted == native else None
