"""Fashion-MNIST: find, download, verify and load the four original IDX files.

The files are looked for in the Debian package's folder, in Keras's cache and in this project's
cache; they are downloaded into the cache only when none of those holds a verified set. Every
file is checked against the sha256 of its decompressed bytes, so a re-compressed copy (as Debian
ships) is accepted while any altered, truncated or foreign file is rejected with a DataError.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import sys
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np

from fmnist_lib.cache import write_atomically
from fmnist_lib.validation import check_scalar

__all__ = [
    "CLASS_NAMES",
    "FILES",
    "IMAGE_SHAPE",
    "MIRRORS",
    "N_CLASSES",
    "N_TEST",
    "N_TRAIN",
    "N_VALIDATION",
    "SYSTEM_DATA_DIR",
    "DataError",
    "FileSpec",
    "data_cache_dir",
    "fetch_fashion_mnist",
    "load_fashion_mnist",
    "locate_fashion_mnist",
    "read_idx",
    "search_dirs",
    "split_validation",
    "to_float",
]

CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
N_CLASSES = len(CLASS_NAMES)
IMAGE_SHAPE = (28, 28)
# The report's split: the first N_VALIDATION of the 60,000 training images validate, the rest
# train; the 10,000 test images are kept apart.
N_VALIDATION = 5_000
N_TRAIN = 55_000
N_TEST = 10_000


class DataError(Exception):
    """A Fashion-MNIST file is missing, unreadable or not the original; the message says the fix."""


@dataclass(frozen=True)
class FileSpec:
    """One original file: its name, the sha256 of its decompressed bytes and its array shape."""

    name: str
    sha256: str
    shape: tuple[int, ...]


FILES: Mapping[str, FileSpec] = MappingProxyType(
    {
        "train_images": FileSpec(
            "train-images-idx3-ubyte.gz",
            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            (N_TRAIN + N_VALIDATION, *IMAGE_SHAPE),
        ),
        "train_labels": FileSpec(
            "train-labels-idx1-ubyte.gz",
            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            (N_TRAIN + N_VALIDATION,),
        ),
        "test_images": FileSpec(
            "t10k-images-idx3-ubyte.gz",
            "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            (N_TEST, *IMAGE_SHAPE),
        ),
        "test_labels": FileSpec(
            "t10k-labels-idx1-ubyte.gz",
            "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            (N_TEST,),
        ),
    }
)

MIRRORS: tuple[str, ...] = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
)

SYSTEM_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")

_GZIP_MAGIC = b"\x1f\x8b"
_IDX_UBYTE = 0x08
_CHUNK = 1 << 18
_UNKNOWN_SIZE_STEP = 5 << 20
_FIX = (
    "delete it and run `make data`, "
    "or set FMNIST_DATA_DIR to a folder holding the four original files"
)
_FIX_CHOSEN = (
    "replace it with the original file (from `sudo apt-get install dataset-fashion-mnist` "
    "or a download), or point FMNIST_DATA_DIR / data_dir at another folder"
)
_OTHER_WAYS = (
    "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
    "set FMNIST_DATA_DIR to a folder holding the four files, or copy them into {cache}"
)

Arrays = dict[str, np.ndarray]


class _BadFile(Exception):
    """Internal: a file's content is wrong; the message is a clause such as 'is truncated'."""


def _error(message: str) -> DataError:
    """Build a DataError whose message is a single line."""
    return DataError(" ".join(message.splitlines()))


def data_cache_dir() -> Path:
    """Return the download cache: $FMNIST_CACHE_DIR, else ~/.cache/fmnist-book/fashion-mnist."""
    env = os.environ.get("FMNIST_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "fmnist-book" / "fashion-mnist"


def search_dirs() -> list[Path]:
    """Return the folders searched by default, in order: Debian's, Keras's, then the cache."""
    return [
        SYSTEM_DATA_DIR,
        Path.home() / ".keras" / "datasets" / "fashion-mnist",
        data_cache_dir(),
    ]


def _decode(raw: bytes, *, must_be_gzip: bool) -> bytes:
    """Return the IDX bytes of a file's content, decompressing it when it is gzip."""
    if raw[:2] != _GZIP_MAGIC:
        if must_be_gzip:
            raise _BadFile("is not a gzip file (it does not start with the gzip bytes 1f 8b)")
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise _BadFile(f"is truncated or corrupt (gzip: {exc})") from exc


def _parse(data: bytes) -> np.ndarray:
    """Parse IDX bytes of unsigned bytes into a read-only uint8 array of the stated shape."""
    if len(data) < 4:
        raise _BadFile(f"is truncated: {len(data)} bytes cannot hold an IDX header")
    if data[:2] != b"\x00\x00":
        raise _BadFile(f"is not an IDX file (magic {data[:4].hex(' ')}, expected 00 00 08 nn)")
    if data[2] != _IDX_UBYTE:
        raise _BadFile(f"has IDX type 0x{data[2]:02x}, but only 0x08 (unsigned byte) is supported")
    ndim = data[3]
    if ndim == 0:
        raise _BadFile("has an IDX header with 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise _BadFile(f"is truncated: {len(data)} bytes cannot hold a {ndim}-d IDX header")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    if any(d < 0 for d in dims):
        raise _BadFile(f"has negative IDX dimensions {dims}")
    expected = header + math.prod(dims)
    if len(data) < expected:
        raise _BadFile(f"is truncated: {len(data)} bytes, the IDX header {dims} needs {expected}")
    if len(data) > expected:
        raise _BadFile(f"has {len(data) - expected} bytes more than the IDX header {dims} allows")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _check(data: bytes, spec: FileSpec) -> np.ndarray:
    """Parse IDX bytes and check them against spec: shape, sha256 and label range."""
    array = _parse(data)
    if array.shape != tuple(spec.shape):
        raise _BadFile(f"has shape {array.shape}, expected {tuple(spec.shape)}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise _BadFile(
            f"is not the original file: its content differs from the original "
            f"(sha256 {digest}, expected {spec.sha256})"
        )
    if array.ndim == 1 and array.size and int(array.max()) >= len(CLASS_NAMES):
        raise _BadFile(
            f"holds label {int(array.max())}, but labels must be 0..{len(CLASS_NAMES) - 1}"
        )
    return array


def _read_path(path: Path) -> bytes:
    """Return the raw bytes of a file, turning OS errors into _BadFile."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _BadFile(f"cannot be read ({exc.strerror or exc})") from exc


def _verify_path(path: Path, spec: FileSpec) -> np.ndarray:
    """Read, decompress, parse and verify one file, reading it only once."""
    data = _decode(_read_path(path), must_be_gzip=path.name.endswith(".gz"))
    return _check(data, spec)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip or raw, judged by content) as a uint8 array."""
    path = Path(path)
    try:
        data = _decode(_read_path(path), must_be_gzip=path.name.endswith(".gz"))
        return _parse(data).copy()
    except _BadFile as exc:
        raise _error(f"{path} {exc}; {_FIX}") from exc


def _file_in(folder: Path, spec: FileSpec) -> Path | None:
    """Return where spec's file lives in folder (the .gz preferred over the raw name), or None."""
    gz = folder / spec.name
    raw = folder / spec.name.removesuffix(".gz")
    for candidate in (gz, raw):
        if candidate.is_file():
            return candidate
    return None


def _chosen_dir(data_dir: str | os.PathLike[str] | None) -> tuple[Path, str] | None:
    """Return the folder the caller or $FMNIST_DATA_DIR insists on, with how it was chosen."""
    if data_dir is not None:
        return Path(data_dir).expanduser(), "data_dir"
    env = os.environ.get("FMNIST_DATA_DIR")
    if env:
        return Path(env).expanduser(), "FMNIST_DATA_DIR"
    return None


def _read_chosen(folder: Path, how: str) -> Arrays:
    """Verify all four files in a folder the user chose; any problem raises DataError."""
    other = "pass data_dir=None" if how == "data_dir" else f"unset {how}"
    if not folder.is_dir():
        raise _error(
            f"data folder {folder} (from {how}) does not exist or is not a folder; "
            f"create it with the four original files, or {other} to search the usual places"
        )
    arrays: Arrays = {}
    for key, spec in FILES.items():
        path = _file_in(folder, spec)
        if path is None:
            raise _error(
                f"data folder {folder} (from {how}) has no {spec.name} "
                f"(nor {spec.name.removesuffix('.gz')}); copy the four original files there, "
                f"or {other} to search the usual places"
            )
        try:
            arrays[key] = _verify_path(path, spec)
        except _BadFile as exc:
            raise _error(f"{path} (from {how}) {exc}; {_FIX_CHOSEN}") from exc
    return arrays


def _discard(path: Path, reason: str) -> None:
    """Delete a bad file from the cache and warn about it."""
    try:
        path.unlink()
    except OSError as exc:
        warnings.warn(
            f"{path} in the cache {reason}, and deleting it failed ({exc.strerror or exc}); "
            "delete it by hand",
            stacklevel=4,
        )
        return
    warnings.warn(f"deleted {path} from the cache because it {reason}", stacklevel=4)


def _read_searched(folder: Path, *, is_cache: bool) -> Arrays | None:
    """Verify a searched folder; warn and return None when its set is incomplete or bad."""
    arrays: Arrays = {}
    problems: list[str] = []
    missing: list[str] = []
    for key, spec in FILES.items():
        path = _file_in(folder, spec)
        if path is None:
            missing.append(spec.name)
            continue
        try:
            arrays[key] = _verify_path(path, spec)
        except _BadFile as exc:
            problems.append(f"{path.name} {exc}")
            if not is_cache:
                break
            _discard(path, str(exc))
    if not problems and not missing:
        return arrays
    if problems or arrays:
        why = "; ".join(problems + ([f"missing {', '.join(missing)}"] if missing else []))
        warnings.warn(f"skipping Fashion-MNIST folder {folder}: {why}", stacklevel=3)
    return None


def _find(data_dir: str | os.PathLike[str] | None) -> tuple[Path, Arrays] | None:
    """Find and verify a complete set; return its folder and parsed arrays, or None."""
    chosen = _chosen_dir(data_dir)
    if chosen is not None:
        folder, how = chosen
        return folder, _read_chosen(folder, how)
    cache = data_cache_dir()
    seen: set[Path] = set()
    for folder in search_dirs():
        key = folder.resolve()
        if key in seen or not folder.is_dir():
            continue
        seen.add(key)
        arrays = _read_searched(folder, is_cache=key == cache.resolve())
        if arrays is not None:
            return folder, arrays
    return None


def _content_length(response: Any) -> int | None:
    """Return the response's Content-Length, or None when it is missing or not a number."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _megabytes(n: int) -> str:
    """Format a byte count in MB with two decimals."""
    return f"{n / 1e6:.2f}"


def _stream(response: Any, out: BinaryIO, url: str, *, progress: bool) -> None:
    """Copy a response into an open file, printing progress to stderr about every 10%."""
    total = _content_length(response)
    step = total / 10 if total else _UNKNOWN_SIZE_STEP
    next_mark = step
    received = 0
    while chunk := response.read(_CHUNK):
        out.write(chunk)
        received += len(chunk)
        if progress and received >= next_mark and (total is None or received < total):
            size = f"{_megabytes(received)} MB"
            if total:
                size = f"{_megabytes(received)}/{_megabytes(total)} MB ({100 * received // total}%)"
            print(f"fmnist: {size} of {url}", file=sys.stderr, flush=True)
            while next_mark <= received:
                next_mark += step
    if total is not None and received != total:
        raise _BadFile(f"ended early (short read: got {received} of {total} bytes)")
    if progress:
        print(f"fmnist: {_megabytes(received)} MB done: {url}", file=sys.stderr, flush=True)


def _download(
    url: str, folder: Path, spec: FileSpec, *, urlopen: Callable, timeout: float, progress: bool
) -> np.ndarray:
    """Download url to a temporary file in folder, verify it, then move it to spec.name."""

    def fetch(part: Path) -> np.ndarray:
        with open(part, "wb") as out, urlopen(url, timeout=timeout) as response:
            _stream(response, out, url, progress=progress)
        return _check(_decode(part.read_bytes(), must_be_gzip=spec.name.endswith(".gz")), spec)

    return write_atomically(folder / spec.name, fetch)


def _reason(exc: BaseException) -> str:
    """Describe a failed download attempt in one short line."""
    if isinstance(exc, _BadFile):
        return f"served a file that {exc}"
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def _fetch_one(
    folder: Path,
    spec: FileSpec,
    *,
    mirrors: Sequence[str],
    urlopen: Callable,
    retries: int,
    timeout: float,
    progress: bool,
) -> np.ndarray:
    """Download one file from the first mirror that serves the original; else raise."""
    failures: list[str] = []
    for base in mirrors:
        url = base + spec.name
        for _attempt in range(1 + retries):
            try:
                return _download(
                    url, folder, spec, urlopen=urlopen, timeout=timeout, progress=progress
                )
            except (OSError, HTTPException, ValueError, _BadFile) as exc:
                failures.append(f"{url}: {_reason(exc)}")
    tried = "; ".join(failures) if failures else "no mirrors were given"
    raise _error(
        f"could not download {spec.name} into {folder}: tried {tried}. "
        f"Other ways to provide the data: {_OTHER_WAYS.format(cache=folder)}."
    )


def fetch_fashion_mnist(
    cache_dir: Path | None = None,
    *,
    mirrors: Sequence[str] = MIRRORS,
    urlopen: Callable = urllib.request.urlopen,
    retries: int = 1,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download the files missing or bad in cache_dir, verify them, and return cache_dir."""
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries}")
    if timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else data_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error(
            f"cannot create the cache folder {folder} ({exc.strerror or exc}); "
            "set FMNIST_CACHE_DIR to a writable folder"
        ) from exc
    for spec in FILES.values():
        path = _file_in(folder, spec)
        if path is not None:
            try:
                _verify_path(path, spec)
                continue
            except _BadFile as exc:
                _discard(path, str(exc))
        _fetch_one(
            folder,
            spec,
            mirrors=mirrors,
            urlopen=urlopen,
            retries=retries,
            timeout=timeout,
            progress=progress,
        )
    return folder


def _not_found_error() -> DataError:
    """Build the error for a search that found no complete, verified set."""
    looked = ", ".join(str(folder) for folder in search_dirs())
    return _error(
        f"Fashion-MNIST was not found: looked in {looked} for the four files "
        f"({', '.join(spec.name for spec in FILES.values())}); provide them with "
        f"{_OTHER_WAYS.format(cache=data_cache_dir())}, or allow the download (download=True)"
    )


def _locate(data_dir: str | os.PathLike[str] | None, *, download: bool) -> tuple[Path, Arrays]:
    """Find a verified set, downloading it when allowed; return its folder and arrays."""
    found = _find(data_dir)
    if found is not None:
        return found
    if not download:
        raise _not_found_error()
    folder = fetch_fashion_mnist()
    return folder, _read_chosen(folder, "the download cache")


def locate_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = True
) -> Path:
    """Return the folder holding the verified files, downloading them if allowed and needed."""
    return _locate(data_dir, download=download)[0]


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, *, download: bool = True
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return (x_train, y_train), (x_test, y_test) as uint8 arrays from verified files."""
    _, arrays = _locate(data_dir, download=download)
    train = (arrays["train_images"].copy(), arrays["train_labels"].copy())
    test = (arrays["test_images"].copy(), arrays["test_labels"].copy())
    return train, test


def split_validation(
    x: np.ndarray, y: np.ndarray, n_val: int = N_VALIDATION
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Return (x_train, y_train), (x_val, y_val) with the FIRST n_val examples as validation."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    n_val = check_scalar(n_val, "n_val", int, min_val=1, max_val=len(x) - 1)
    return (x[n_val:], y[n_val:]), (x[:n_val], y[:n_val])


def to_float(x: np.ndarray) -> np.ndarray:
    """Return pixel values as float32 in [0, 1] (x / 255)."""
    return np.asarray(x, dtype=np.float32) / np.float32(255)
