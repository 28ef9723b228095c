"""Tests for fmnist_lib.data: IDX parsing, verification, search order, download and splits.

All but one test use tiny synthetic IDX files in tmp_path and a monkeypatched FILES mapping;
no test uses the network. The last test reads the real files (found by `make data`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import struct
import tempfile
import urllib.error
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fmnist_lib import data
from fmnist_lib.data import DataError, FileSpec

N_TRAIN = 12
N_TEST = 5
MIRROR_A = "https://a.example/"
MIRROR_B = "https://b.example/"
MIRROR_C = "https://c.example/"


def found_dir() -> Path | None:
    """The folder the search finds without downloading, or None when it finds no verified set."""
    try:
        return data.locate_fashion_mnist(download=False)
    except data.DataError as error:
        assert "was not found" in str(error)
        return None


def idx_bytes(array: np.ndarray) -> bytes:
    """Return the IDX encoding (unsigned byte type) of a uint8 array."""
    header = b"\x00\x00\x08" + bytes([array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def gz(payload: bytes) -> bytes:
    """Return payload gzip-compressed, reproducibly."""
    return gzip.compress(payload, mtime=0)


def synthetic_arrays() -> dict[str, np.ndarray]:
    """Return small deterministic arrays shaped like the four Fashion-MNIST files."""
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(N_TEST) * 3 % 10).astype(np.uint8),
    }


def write_set(folder: Path, arrays: dict[str, np.ndarray], *, raw: bool = False) -> None:
    """Write the four synthetic files into folder, gzip-compressed or raw."""
    folder.mkdir(parents=True, exist_ok=True)
    for key, spec in data.FILES.items():
        payload = idx_bytes(arrays[key])
        if raw:
            (folder / spec.name.removesuffix(".gz")).write_bytes(payload)
        else:
            (folder / spec.name).write_bytes(gz(payload))


def path_of(folder: Path, key: str) -> Path:
    """Return the .gz path of one file in folder."""
    return folder / data.FILES[key].name


def assert_one_line_naming(exc: pytest.ExceptionInfo[DataError], path: Path) -> str:
    """Check a DataError message is one line and names path; return the message."""
    message = str(exc.value)
    assert "\n" not in message
    assert str(path) in message
    return message


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point HOME, the cache and the system folder into tmp_path; clear FMNIST_DATA_DIR."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FMNIST_CACHE_DIR", raising=False)
    monkeypatch.delenv("FMNIST_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "SYSTEM_DATA_DIR", tmp_path / "system")


@pytest.fixture
def arrays(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Replace data.FILES with specs of the synthetic arrays; return those arrays."""
    arrays = synthetic_arrays()
    specs = {}
    for key, spec in data.FILES.items():
        digest = hashlib.sha256(idx_bytes(arrays[key])).hexdigest()
        specs[key] = FileSpec(spec.name, digest, arrays[key].shape)
    monkeypatch.setattr(data, "FILES", specs)
    return arrays


@pytest.fixture
def good_dir(tmp_path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """A folder holding the four good synthetic .gz files."""
    folder = tmp_path / "good"
    write_set(folder, arrays)
    return folder


def fake_urlopen(
    responses: dict[str, list[bytes | Exception]], calls: list[str], *, length: bool = True
) -> Callable:
    """Return a urlopen that serves, per URL, the next queued bytes or raises the next error."""

    def urlopen(url: str, timeout: float) -> io.BytesIO:
        assert timeout > 0
        calls.append(url)
        queue = responses.get(url) or [urllib.error.URLError("no such host")]
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        response = io.BytesIO(item)
        response.headers = {"Content-Length": str(len(item))} if length else {}  # type: ignore[attr-defined]
        return response

    return urlopen


def http_error(url: str, code: int) -> urllib.error.HTTPError:
    """Return an HTTPError like urllib raises."""
    return urllib.error.HTTPError(url, code, "Forbidden" if code == 403 else "Not Found", {}, None)


def good_payloads(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """Return the gzip bytes a good mirror serves, by file name."""
    return {data.FILES[key].name: gz(idx_bytes(arrays[key])) for key in data.FILES}


# --- constants -------------------------------------------------------------------------------


def test_files_spec_is_read_only_and_has_four_original_files() -> None:
    assert set(data.FILES) == {"train_images", "train_labels", "test_images", "test_labels"}
    assert data.FILES["train_images"].shape == (60000, 28, 28)
    assert data.FILES["test_labels"].shape == (10000,)
    with pytest.raises(TypeError):
        data.FILES["extra"] = data.FILES["train_images"]  # type: ignore[index]
    assert len(data.CLASS_NAMES) == 10
    assert data.CLASS_NAMES[9] == "Ankle boot"


def test_data_cache_dir_uses_env_else_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert data.data_cache_dir() == tmp_path / "home" / ".cache" / "fmnist-book" / "fashion-mnist"
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "c"))
    assert data.data_cache_dir() == tmp_path / "c"


def test_search_dirs_order_is_system_keras_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert data.search_dirs() == [
        tmp_path / "system",
        home / ".keras" / "datasets" / "fashion-mnist",
        home / ".cache" / "fmnist-book" / "fashion-mnist",
    ]


# --- read_idx --------------------------------------------------------------------------------


def test_read_idx_reads_gzip_and_raw_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gz(idx_bytes(array)))
    (tmp_path / "b").write_bytes(idx_bytes(array))
    (tmp_path / "c").write_bytes(gz(idx_bytes(array)))  # gzip content without .gz name
    for name in ("a.gz", "b", "c"):
        result = data.read_idx(tmp_path / name)
        assert result.dtype == np.uint8
        np.testing.assert_array_equal(result, array)
        assert result.flags.writeable


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=4), compress=st.booleans())
def test_read_idx_round_trips_any_shape(shape: list[int], compress: bool) -> None:
    array = np.random.default_rng(len(shape)).integers(0, 256, shape, dtype=np.uint8)
    payload = idx_bytes(array)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "x"
        file.write_bytes(gz(payload) if compress else payload)
        np.testing.assert_array_equal(data.read_idx(file), array)


def test_read_idx_rejects_truncated_gzip(tmp_path: Path) -> None:
    path = tmp_path / "t.gz"
    path.write_bytes(gz(idx_bytes(np.zeros((4, 28, 28), np.uint8)))[:-20])
    with pytest.raises(DataError) as exc:
        data.read_idx(path)
    assert "truncated or corrupt" in assert_one_line_naming(exc, path)


def test_read_idx_rejects_corrupt_gzip_data(tmp_path: Path) -> None:
    path = tmp_path / "t.gz"
    blob = bytearray(gz(idx_bytes(np.arange(3000, dtype=np.uint8) % 7)))
    blob[20:30] = b"\xff" * 10
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as exc:
        data.read_idx(path)
    assert "truncated or corrupt" in assert_one_line_naming(exc, path)


def test_read_idx_rejects_truncated_and_overlong_raw_files(tmp_path: Path) -> None:
    payload = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    short, long = tmp_path / "short", tmp_path / "long"
    short.write_bytes(payload[:-1])
    long.write_bytes(payload + b"\x00")
    with pytest.raises(DataError) as exc:
        data.read_idx(short)
    assert "truncated" in assert_one_line_naming(exc, short)
    with pytest.raises(DataError) as exc:
        data.read_idx(long)
    assert "1 bytes more" in assert_one_line_naming(exc, long)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"PK\x03\x04", "not an IDX file"),
        (b"\x00\x00\x0d\x01", "IDX type 0x0d"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00", "truncated"),
        (b"\x00\x00", "truncated"),
    ],
)
def test_read_idx_rejects_bad_magic_and_headers(
    tmp_path: Path, header: bytes, expected: str
) -> None:
    path = tmp_path / "bad"
    path.write_bytes(header)
    with pytest.raises(DataError) as exc:
        data.read_idx(path)
    assert expected in assert_one_line_naming(exc, path)


def test_read_idx_rejects_gz_name_without_gzip_content(tmp_path: Path) -> None:
    path = tmp_path / "raw.gz"
    path.write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)))
    with pytest.raises(DataError) as exc:
        data.read_idx(path)
    message = assert_one_line_naming(exc, path)
    assert "is not a gzip file" in message
    assert "FMNIST_DATA_DIR" in message


def test_read_idx_missing_file_is_data_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.gz"
    with pytest.raises(DataError) as exc:
        data.read_idx(path)
    assert "cannot be read" in assert_one_line_naming(exc, path)


# --- explicit folders: load and verification -------------------------------------------------


def test_load_gz_folder_returns_right_shapes_and_dtypes(
    good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(good_dir, download=False)
    assert x_train.shape == (N_TRAIN, 28, 28)
    assert y_train.shape == (N_TRAIN,)
    assert x_test.shape == (N_TEST, 28, 28)
    assert y_test.shape == (N_TEST,)
    for got, key in [(x_train, "train_images"), (y_train, "train_labels"), (x_test, "test_images")]:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])


def test_load_raw_folder_works_like_gz(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    write_set(tmp_path / "raw", arrays, raw=True)
    (x_train, _), (_, y_test) = data.load_fashion_mnist(tmp_path / "raw", download=False)
    np.testing.assert_array_equal(x_train, arrays["train_images"])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])


def test_gz_file_is_preferred_over_raw_file(good_dir: Path) -> None:
    raw = good_dir / data.FILES["train_labels"].name.removesuffix(".gz")
    raw.write_bytes(b"garbage")
    assert data.locate_fashion_mnist(good_dir, download=False) == good_dir


def test_explicit_dir_with_wrong_shape_raises(good_dir: Path) -> None:
    path = path_of(good_dir, "test_images")
    path.write_bytes(gz(idx_bytes(np.zeros((N_TEST + 1, 28, 28), np.uint8))))
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(good_dir, download=False)
    assert "expected (5, 28, 28)" in assert_one_line_naming(exc, path)


def test_explicit_dir_with_altered_content_raises_checksum_error(
    good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    altered = arrays["train_images"].copy()
    altered[0, 0, 0] ^= 1
    path = path_of(good_dir, "train_images")
    path.write_bytes(gz(idx_bytes(altered)))
    with pytest.raises(DataError) as exc:
        data.load_fashion_mnist(good_dir, download=False)
    message = assert_one_line_naming(exc, path)
    assert "content differs from the original" in message
    assert data.FILES["train_images"].sha256 in message


def test_explicit_dir_with_truncated_gzip_raises(good_dir: Path) -> None:
    path = path_of(good_dir, "train_labels")
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(good_dir, download=False)
    assert "truncated or corrupt" in assert_one_line_naming(exc, path)


def test_explicit_dir_with_gz_name_but_raw_content_raises(
    good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    path = path_of(good_dir, "test_labels")
    path.write_bytes(idx_bytes(arrays["test_labels"]))
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(good_dir, download=False)
    assert "is not a gzip file" in assert_one_line_naming(exc, path)


def test_labels_outside_0_to_9_are_rejected(
    monkeypatch: pytest.MonkeyPatch, good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    labels = arrays["test_labels"].copy()
    labels[0] = 10
    payload = idx_bytes(labels)
    old = data.FILES["test_labels"]
    specs = dict(data.FILES)
    specs["test_labels"] = FileSpec(old.name, hashlib.sha256(payload).hexdigest(), old.shape)
    monkeypatch.setattr(data, "FILES", specs)
    path = path_of(good_dir, "test_labels")
    path.write_bytes(gz(payload))
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(good_dir, download=False)
    assert "label 10" in assert_one_line_naming(exc, path)


def test_explicit_dir_missing_folder_or_file_raises(good_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(tmp_path / "absent", download=False)
    assert "does not exist" in assert_one_line_naming(exc, tmp_path / "absent")
    path_of(good_dir, "train_labels").unlink()
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(good_dir, download=False)
    assert data.FILES["train_labels"].name in assert_one_line_naming(exc, good_dir)


def test_explicit_dir_is_not_skipped_even_when_system_dir_is_good(
    tmp_path: Path, good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    write_set(tmp_path / "system", arrays)
    path_of(good_dir, "train_images").write_bytes(b"junk")
    with pytest.raises(DataError):
        data.load_fashion_mnist(good_dir, download=False)


def test_env_data_dir_with_bad_file_raises_instead_of_searching(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, good_dir: Path, arrays: dict[str, np.ndarray]
) -> None:
    write_set(tmp_path / "system", arrays)
    monkeypatch.setenv("FMNIST_DATA_DIR", str(good_dir))
    assert data.locate_fashion_mnist(download=False) == good_dir
    path = path_of(good_dir, "test_images")
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(download=False)
    message = assert_one_line_naming(exc, path)
    assert "FMNIST_DATA_DIR" in message


# --- search order ----------------------------------------------------------------------------


def keras_dir(tmp_path: Path) -> Path:
    """Return the Keras cache folder under the fake HOME."""
    return tmp_path / "home" / ".keras" / "datasets" / "fashion-mnist"


def test_first_complete_dir_in_search_order_wins(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    write_set(keras_dir(tmp_path), arrays)
    write_set(data.data_cache_dir(), arrays)
    assert data.locate_fashion_mnist(download=False) == keras_dir(tmp_path)
    write_set(tmp_path / "system", arrays)
    assert data.locate_fashion_mnist(download=False) == tmp_path / "system"


def test_incomplete_system_dir_is_skipped_with_warning(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    system = tmp_path / "system"
    write_set(system, arrays)
    path_of(system, "test_labels").unlink()
    write_set(keras_dir(tmp_path), arrays)
    with pytest.warns(UserWarning, match="missing t10k-labels") as record:
        assert data.locate_fashion_mnist(download=False) == keras_dir(tmp_path)
    assert str(system) in str(record[0].message)


def test_bad_system_dir_is_skipped_with_warning_and_left_alone(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    system = tmp_path / "system"
    write_set(system, arrays)
    bad = path_of(system, "train_images")
    bad.write_bytes(b"\x1f\x8bnot really gzip")
    write_set(data.data_cache_dir(), arrays)
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        assert data.locate_fashion_mnist(download=False) == data.data_cache_dir()
    assert bad.exists()


def test_empty_or_absent_dirs_are_skipped_silently(
    tmp_path: Path, arrays: dict[str, np.ndarray], recwarn: pytest.WarningsRecorder
) -> None:
    (tmp_path / "system").mkdir()
    assert found_dir() is None
    assert len(recwarn) == 0


def test_bad_file_in_cache_is_deleted(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    cache = data.data_cache_dir()
    write_set(cache, arrays)
    bad = path_of(cache, "test_images")
    bad.write_bytes(gz(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07"))
    good = path_of(cache, "train_images")
    with pytest.warns(UserWarning) as record:
        assert found_dir() is None
    messages = [str(warning.message) for warning in record]
    assert any(m.startswith(f"deleted {bad}") for m in messages)
    assert any(m.startswith(f"skipping Fashion-MNIST folder {cache}") for m in messages)
    assert not bad.exists()
    assert good.exists()


def test_search_that_finds_nothing_raises_not_found(arrays: dict[str, np.ndarray]) -> None:
    assert found_dir() is None


def test_locate_without_download_lists_every_folder(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    with pytest.raises(DataError) as exc:
        data.locate_fashion_mnist(download=False)
    message = str(exc.value)
    assert "\n" not in message
    for folder in data.search_dirs():
        assert str(folder) in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "FMNIST_DATA_DIR" in message


# --- download --------------------------------------------------------------------------------


def test_fetch_retries_then_falls_back_to_next_mirror(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    payloads = good_payloads(arrays)
    responses: dict[str, list[bytes | Exception]] = {}
    for name, payload in payloads.items():
        responses[MIRROR_A + name] = [http_error(MIRROR_A + name, 403)]
        responses[MIRROR_B + name] = [payload]
    calls: list[str] = []
    cache = tmp_path / "cache"
    result = data.fetch_fashion_mnist(
        cache,
        mirrors=(MIRROR_A, MIRROR_B),
        urlopen=fake_urlopen(responses, calls),
        retries=1,
        progress=False,
    )
    assert result == cache
    for name in payloads:
        assert calls.count(MIRROR_A + name) == 2  # first try plus one retry
        assert calls.count(MIRROR_B + name) == 1
    assert sorted(p.name for p in cache.iterdir()) == sorted(payloads)
    assert not list(cache.glob(".partial-*"))
    assert data.locate_fashion_mnist(cache, download=False) == cache


def test_fetch_rejects_altered_bytes_and_uses_next_mirror(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    payloads = good_payloads(arrays)
    altered = arrays["train_labels"].copy()
    altered[1] = 9 - altered[1]
    name = data.FILES["train_labels"].name
    responses: dict[str, list[bytes | Exception]] = {MIRROR_A + name: [gz(idx_bytes(altered))]}
    for other, payload in payloads.items():
        responses[MIRROR_B + other] = [payload]
    calls: list[str] = []
    cache = tmp_path / "cache"
    data.fetch_fashion_mnist(
        cache,
        mirrors=(MIRROR_A, MIRROR_B),
        urlopen=fake_urlopen(responses, calls),
        retries=0,
        progress=False,
    )
    assert MIRROR_A + name in calls
    assert path_of(cache, "train_labels").read_bytes() == payloads[name]
    assert not list(cache.glob(".partial-*"))


def test_fetch_rejects_short_read(tmp_path: Path, arrays: dict[str, np.ndarray]) -> None:
    name = data.FILES["train_images"].name
    payload = good_payloads(arrays)[name]
    calls: list[str] = []

    def short_urlopen(url: str, timeout: float) -> io.BytesIO:
        calls.append(url)
        response = io.BytesIO(payload[:100])
        response.headers = {"Content-Length": str(len(payload))}  # type: ignore[attr-defined]
        return response

    with pytest.raises(DataError, match="short read"):
        data.fetch_fashion_mnist(
            tmp_path / "cache", mirrors=(MIRROR_A,), urlopen=short_urlopen, progress=False
        )
    assert calls == [MIRROR_A + name] * 2
    assert list((tmp_path / "cache").iterdir()) == []


def test_fetch_all_mirrors_failing_lists_every_url_and_leaves_nothing(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    name = data.FILES["train_images"].name
    responses: dict[str, list[bytes | Exception]] = {
        MIRROR_A + name: [http_error(MIRROR_A + name, 404)],
        MIRROR_B + name: [TimeoutError("timed out")],
        MIRROR_C + name: [gz(b"not an idx file at all")],
    }
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as exc:
        data.fetch_fashion_mnist(
            cache,
            mirrors=(MIRROR_A, MIRROR_B, MIRROR_C),
            urlopen=fake_urlopen(responses, []),
            retries=0,
            progress=False,
        )
    message = str(exc.value)
    assert "\n" not in message
    assert f"{MIRROR_A}{name}: HTTP Error 404" in message
    assert f"{MIRROR_B}{name}: timed out" in message
    assert f"{MIRROR_C}{name}: served a file that" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "FMNIST_DATA_DIR" in message
    assert str(cache) in message
    assert list(cache.iterdir()) == []


def test_fetch_keeps_good_cached_files_and_replaces_bad_ones(
    tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    cache = tmp_path / "cache"
    write_set(cache, arrays)
    path_of(cache, "test_images").write_bytes(b"junk")
    name = data.FILES["test_images"].name
    responses: dict[str, list[bytes | Exception]] = {MIRROR_A + name: [good_payloads(arrays)[name]]}
    calls: list[str] = []
    with pytest.warns(UserWarning, match="deleted"):
        data.fetch_fashion_mnist(
            cache, mirrors=(MIRROR_A,), urlopen=fake_urlopen(responses, calls), progress=False
        )
    assert calls == [MIRROR_A + name]
    assert data.locate_fashion_mnist(cache, download=False) == cache


def test_fetch_progress_goes_to_stderr(
    tmp_path: Path, arrays: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    responses = {MIRROR_A + n: [p] for n, p in good_payloads(arrays).items()}
    data.fetch_fashion_mnist(
        tmp_path / "cache", mirrors=(MIRROR_A,), urlopen=fake_urlopen(responses, [])
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert f"MB done: {MIRROR_A}{data.FILES['train_images'].name}" in err
    assert len(err.splitlines()) >= 4


def test_fetch_progress_false_is_silent_and_content_length_is_optional(
    tmp_path: Path, arrays: dict[str, np.ndarray], capsys: pytest.CaptureFixture[str]
) -> None:
    responses = {MIRROR_A + n: [p] for n, p in good_payloads(arrays).items()}
    urlopen = fake_urlopen(responses, [], length=False)
    cache = tmp_path / "cache"
    data.fetch_fashion_mnist(cache, mirrors=(MIRROR_A,), urlopen=urlopen, progress=False)
    assert capsys.readouterr() == ("", "")
    assert data.locate_fashion_mnist(tmp_path / "cache", download=False) == tmp_path / "cache"


def test_load_downloads_into_cache_when_nothing_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, arrays: dict[str, np.ndarray]
) -> None:
    monkeypatch.setenv("FMNIST_CACHE_DIR", str(tmp_path / "c"))
    responses = {MIRROR_A + n: [p] for n, p in good_payloads(arrays).items()}
    fake_fetch = partial(
        data.fetch_fashion_mnist,
        mirrors=(MIRROR_A,),
        urlopen=fake_urlopen(responses, []),
        progress=False,
    )
    monkeypatch.setattr(data, "fetch_fashion_mnist", fake_fetch)
    assert data.locate_fashion_mnist() == tmp_path / "c"
    (x_train, _), _ = data.load_fashion_mnist()
    np.testing.assert_array_equal(x_train, arrays["train_images"])


def test_fetch_rejects_negative_retries(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retries"):
        data.fetch_fashion_mnist(tmp_path, retries=-1)


# --- split and scaling -----------------------------------------------------------------------


def test_split_validation_takes_the_first_n_val_examples() -> None:
    x = np.arange(10 * 2).reshape(10, 2)
    y = np.arange(10)
    (x_train, y_train), (x_val, y_val) = data.split_validation(x, y, n_val=3)
    np.testing.assert_array_equal(y_val, [0, 1, 2])
    np.testing.assert_array_equal(y_train, np.arange(3, 10))
    np.testing.assert_array_equal(x_val, x[:3])
    np.testing.assert_array_equal(x_train, x[3:])


@pytest.mark.parametrize("n_val", [0, -1, 10, 11])
def test_split_validation_rejects_n_val_out_of_range(n_val: int) -> None:
    with pytest.raises(ValueError, match="n_val"):
        data.split_validation(np.zeros((10, 2)), np.zeros(10), n_val=n_val)


def test_split_validation_rejects_length_mismatch() -> None:
    with pytest.raises(ValueError, match="same length"):
        data.split_validation(np.zeros((10, 2)), np.zeros(9), n_val=2)


def test_to_float_scales_to_unit_float32() -> None:
    x = np.array([[0, 128, 255]], dtype=np.uint8)
    result = data.to_float(x)
    assert result.dtype == np.float32
    assert result.min() == 0.0
    assert result.max() == 1.0
    np.testing.assert_allclose(result[0, 1], 128 / 255)


# --- the real files --------------------------------------------------------------------------


def test_real_fashion_mnist_loads_with_original_shapes_and_balanced_classes(
    real_data_dir: Path,
) -> None:
    (x_train, y_train), (x_test, y_test) = data.load_fashion_mnist(real_data_dir, download=False)
    assert x_train.shape == (60000, 28, 28)
    assert y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28)
    assert y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10))
    assert int(y_test.max()) <= 9
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
