from dataclasses import dataclass
from typing import ClassVar

import pytest

from fmnist_lib import cache
from fmnist_lib.cache import hash_key, is_complete, produce_entry, results_dir

FILES = ("a.txt", "b.txt")


def write_both(folder):
    for name in FILES:
        (folder / name).write_text(name)


def test_results_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(tmp_path))
    assert results_dir() == tmp_path
    monkeypatch.delenv("FMNIST_RESULTS_DIR")
    assert results_dir().name == "results"


def test_hash_key_is_stable_and_sensitive_to_the_identity():
    assert hash_key("run", {"a": 1, "b": 2}) == hash_key("run", {"b": 2, "a": 1})
    assert hash_key("run", {"a": 1}) != hash_key("run", {"a": 2})
    assert hash_key("run", {"a": 1}).startswith("run-")


def test_produce_entry_writes_once_and_then_reports_it_complete(tmp_path):
    folder = tmp_path / "entry"
    assert produce_entry(folder, FILES, write_both) is True
    assert is_complete(folder, FILES)

    def must_not_write(_):
        raise AssertionError("wrote a complete entry again")

    assert produce_entry(folder, FILES, must_not_write) is False


def test_a_failing_writer_leaves_no_entry_and_no_temporary_folder(tmp_path):
    def fail_halfway(folder):
        (folder / "a.txt").write_text("a")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        produce_entry(tmp_path / "entry", FILES, fail_halfway)
    assert list(tmp_path.iterdir()) == []


def test_a_writer_that_forgets_a_file_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"b\.txt"):
        produce_entry(tmp_path / "entry", FILES, lambda folder: (folder / "a.txt").write_text(""))
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_entry_is_replaced(tmp_path):
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "a.txt").write_text("old")
    assert produce_entry(folder, FILES, write_both) is True
    assert (folder / "a.txt").read_text() == "a.txt"


def test_write_atomically_replaces_a_file_whole_and_returns_what_write_returns(tmp_path):
    path = tmp_path / "deep" / "table.csv"
    assert cache.write_atomically(path, lambda part: part.write_text("new")) == 3
    assert path.read_text() == "new" and oct(path.stat().st_mode & 0o777) == "0o644"

    def fail_halfway(part):
        part.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.write_atomically(path, fail_halfway)
    assert path.read_text() == "new"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]  # no .partial-* left


def test_write_atomically_makes_a_folder_readable_by_all(tmp_path):
    folder = tmp_path / "entry"
    cache.write_atomically(folder, write_both, folder=True)
    assert is_complete(folder, FILES) and oct(folder.stat().st_mode & 0o777) == "0o755"


def test_results_dir_takes_an_explicit_folder_first(monkeypatch, tmp_path):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(tmp_path / "env"))
    assert results_dir(tmp_path / "given") == tmp_path / "given"
    assert results_dir() == tmp_path / "env"


@dataclass(frozen=True)
class Written:
    """The smallest `cache.EntryConfig`: its entry is FILES."""

    name: str
    entry_files: ClassVar[tuple[str, ...]] = FILES

    def key(self) -> str:
        return f"written-{self.name}"

    def label(self) -> str:
        return self.name

    def write_entry(self, folder, data_dir=None, quiet=False) -> None:
        write_both(folder)


def test_ensure_entry_writes_any_entry_config_once_into_its_keys_folder(tmp_path):
    config = Written("x")
    assert cache.ensure_entry(config, tmp_path) == (tmp_path / "written-x", True)
    assert is_complete(tmp_path / "written-x", FILES)
    assert cache.ensure_entry(config, tmp_path) == (tmp_path / "written-x", False)


def _builder_a():
    return "a"


def _builder_b():
    return "b"


def test_entry_key_changes_with_the_config_the_builder_source_the_version_and_the_library():
    base = {
        "config": {"seed": 0},
        "builders": [_builder_a],
        "code_version": 1,
        "libraries": {"keras": "3.0"},
    }

    def key(**changes):
        settings = {**base, **changes}
        return cache.entry_key(
            "m",
            settings["config"],
            builders=settings["builders"],
            code_version=settings["code_version"],
            libraries=settings["libraries"],
        )

    keys = [
        key(),
        key(config={"seed": 1}),
        key(builders=[_builder_b]),
        key(code_version=2),
        key(libraries={"keras": "3.1"}),
    ]
    assert len(set(keys)) == len(keys)
    assert key() == key() and key().startswith("m-")


def test_source_hash_follows_the_source_code():
    assert cache.source_hash(_builder_a) == cache.source_hash(_builder_a)
    assert cache.source_hash(_builder_a) != cache.source_hash(_builder_b)


def test_source_hash_of_a_partial_is_its_functions_source_and_its_bound_arguments():
    import functools

    from fmnist_lib.cache import source_hash

    def build(width, dropout=0.0):
        return width, dropout

    same = source_hash(functools.partial(build, 32))
    assert source_hash(functools.partial(build, 32)) == same
    assert source_hash(functools.partial(build, 64)) != same
    assert source_hash(functools.partial(build, 32, dropout=0.5)) != same
    assert source_hash(build) != same
