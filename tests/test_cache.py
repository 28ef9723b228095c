import pytest

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
