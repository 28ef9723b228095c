"""Run bundles: export, import through a path or HTTP with every check, refusals, verify."""

import functools
import hashlib
import http.server
import io
import json
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_cli import run_cli as run_in_process

from fmnist_lib import bundles
from fmnist_lib.bundles import (
    RESCORE_CROSS_KIND,
    RESCORE_SAME_KIND,
    VERIFY_CROSS_KIND,
    VERIFY_SAME_KIND,
    BundleError,
    out_of_tolerance,
)

TINY = {"epochs": 1, "train_subset": 200}


@dataclass(frozen=True)
class Published:
    """A cache of two tiny runs and a tiny baseline, and the bundle exported from it."""

    cache: Path
    archive: Path
    runs: tuple[str, ...]
    baseline: str


@pytest.fixture(scope="module")
def published(tmp_path_factory, real_data_dir):
    from fmnist_lib import baselines, training

    cache = tmp_path_factory.mktemp("published")
    runs = tuple(
        training.run(
            training.default_config("seed-mlp", seed=seed, **TINY), cache_dir=cache, quiet=True
        ).key
        for seed in (0, 1)
    )
    config = baselines.BaselineConfig("random-forest", train_subset=100)
    baseline = baselines.run_baseline(config, cache_dir=cache).folder.name
    archive = tmp_path_factory.mktemp("bundle") / "runs.tar.gz"
    bundles.export_bundle(archive, cache_dir=cache)
    return Published(cache, archive, runs, baseline)


@pytest.fixture
def served(published):
    """The bundle's folder served over HTTP on 127.0.0.1: the URL of the bundle."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the access log would go to stderr
            pass

    handler = functools.partial(Quiet, directory=str(published.archive.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/{published.archive.name}"
        finally:
            server.shutdown()
            thread.join(timeout=10)


def members(archive: Path) -> dict[str, bytes]:
    """Every file of a bundle, by its name in the archive."""
    with tarfile.open(archive, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}


def write_bundle(
    path: Path,
    files: dict[str, bytes],
    update_manifest: bool = True,
    links: dict[str, str] | None = None,
) -> Path:
    """A bundle of `files` and symbolic `links` (name: target); with `update_manifest`, the
    manifest's hashes and sizes match the files."""
    files = dict(files)
    if update_manifest:
        manifest = json.loads(files["manifest.json"])
        for entry in manifest["entries"]:
            for name, record in entry["files"].items():
                content = files.get(f"{entry['key']}/{name}", b"")
                record.update(sha256=hashlib.sha256(content).hexdigest(), size=len(content))
        files["manifest.json"] = json.dumps(manifest).encode()
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def edit_json(content: bytes, **changes) -> bytes:
    """A JSON file's bytes with some fields changed."""
    return json.dumps({**json.loads(content), **changes}).encode()


def run_cli(*args) -> tuple[int, str, str]:
    """`python -m fmnist_lib ARGS` in this process (test_cli's runner): (status, stdout, stderr)."""
    process = run_in_process(*args)
    return process.returncode, process.stdout, process.stderr


def assert_refused(status: int, err: str, results: Path | None, *fragments: str) -> None:
    """Exit status 2, one line naming the fragments, no traceback, nothing added to the cache."""
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("python -m fmnist_lib: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert results is None or not results.exists() or list(results.iterdir()) == []


def entry_names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_export_writes_every_entry_with_hashes_provenance_and_code_versions(published):
    files = members(published.archive)
    manifest = json.loads(files["manifest.json"])
    assert manifest["format_version"] == bundles.BUNDLE_FORMAT_VERSION
    entries = {entry["key"]: entry for entry in manifest["entries"]}
    assert set(entries) == {*published.runs, published.baseline}
    assert set(files) == {"manifest.json"} | {
        f"{key}/{name}" for key, entry in entries.items() for name in entry["files"]
    }
    for key, entry in entries.items():
        for name, record in entry["files"].items():
            content = (published.cache / key / name).read_bytes()
            assert files[f"{key}/{name}"] == content
            assert record == {"sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
    run = entries[published.runs[0]]
    assert run["kind"] == "run" and run["config"]["seed"] == 0
    assert run["provenance"]["precision"] == "float32"
    assert run["provenance"]["isa"] == json.loads(
        (published.cache / run["key"] / "metrics.json").read_text()
    )["isa"]
    assert set(run["code"]) == {"training_code_version", "builder_source", "keras"}
    assert entries[published.baseline]["kind"] == "baseline"
    assert set(entries[published.baseline]["code"]) == {
        "baseline_code_version",
        "builder_source",
        "sklearn",
    }
    assert list(published.archive.parent.iterdir()) == [published.archive]  # no partial file


def test_the_manifests_code_versions_rebuild_each_key_by_the_caches_rule(published):
    from fmnist_lib.cache import hash_key

    manifest = json.loads(members(published.archive)["manifest.json"])
    for entry in manifest["entries"]:
        code = dict(entry["code"])
        version = code.pop("training_code_version", None) or code.pop("baseline_code_version")
        builder = code.pop("builder_source")
        prefix = entry["key"].rsplit("-", 1)[0]
        identity = {
            "config": entry["config"],  # the report's MLP has no recipe to add
            "builder_source": builder,
            "code_version": version,
            "libraries": code,
        }
        assert hash_key(prefix, identity) == entry["key"]


def test_export_of_chosen_keys_from_a_file_and_of_an_unknown_key(
    published, tmp_path, monkeypatch
):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(published.cache))
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{published.runs[1]}\n\n")
    out = tmp_path / "one.tar.gz"
    status, stdout, stderr = run_cli("runs", "export", out, "--keys", keys)
    assert status == 0, stderr
    assert stdout.startswith(f"exported to {out}") and bundles.file_sha256(out) in stdout
    assert stderr.count("\n") == 1 and published.runs[1] in stderr
    (entry,) = json.loads(members(out)["manifest.json"])["entries"]
    assert entry["key"] == published.runs[1]
    keys.write_text("seed-mlp-0000000000000000\n")
    status, _, stderr = run_cli("runs", "export", tmp_path / "bad.tar.gz", "--keys", keys)
    assert_refused(status, stderr, None, "seed-mlp-0000000000000000")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keys.txt", "one.tar.gz"]


def test_a_bundle_round_trips_into_an_empty_cache_byte_for_byte(published, results):
    status, stdout, stderr = run_cli("runs", "import", published.archive)
    assert status == 0, stderr
    assert "imported 3 of 3 entries" in stdout
    assert len(stderr.strip().splitlines()) == 3 and "same CPU kind" in stderr
    assert entry_names(results) == {*published.runs, published.baseline}
    for key in entry_names(results):
        assert entry_names(results / key) == entry_names(published.cache / key) | {"imported.json"}
        for name in entry_names(published.cache / key):
            original = (published.cache / key / name).read_bytes()
            assert (results / key / name).read_bytes() == original
        stamp = json.loads((results / key / "imported.json").read_text())
        assert stamp["source"] == str(published.archive)
        assert stamp["archive_sha256"] == bundles.file_sha256(published.archive)
        assert stamp["imported_utc"].endswith("+00:00")
    status, stdout, _ = run_cli("report", "--json")
    rows = json.loads(stdout)
    assert {row["source"] for row in rows} == {f"imported from {published.archive}"}
    assert {row["precision"] for row in rows} == {"float32"}
    status, stdout, stderr = run_cli("runs", "import", published.archive)
    assert status == 0 and "imported 0 of 3 entries" in stdout
    assert stderr.count("already cached") == 3


def test_after_an_import_the_build_finds_every_run_of_the_bundle_cached(published, results):
    """What `make book RUNS=...` does after importing: `run_many` (as `prepare` calls it) finds
    the bundle's runs and baseline in the cache and trains nothing (no cluster is started)."""
    from fmnist_lib import runner

    assert run_cli("runs", "import", published.archive)[0] == 0
    configs = [
        bundles.entry_config(entry["kind"], entry["config"])
        for entry in json.loads(members(published.archive)[bundles.MANIFEST])["entries"]
    ]
    summary = runner.run_many(configs, client=object(), cache_dir=results)  # no client is used
    assert [outcome.status for outcome in summary.outcomes] == ["cached"] * 3


def test_report_says_a_run_trained_here_was_trained_here(published, monkeypatch):
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(published.cache))
    rows = json.loads(run_cli("report", "--json")[1])
    assert {row["source"] for row in rows} == {"trained here"}


def test_a_bundle_imports_over_http_checked_against_its_sha256(published, served, results):
    digest = bundles.file_sha256(published.archive)
    status, _, stderr = run_cli("runs", "import", served, "--sha256", "0" * 64)
    assert_refused(status, stderr, results, served, "0" * 64)
    status, _, stderr = run_cli("runs", "import", f"{served}#sha256={digest}")
    assert status == 0, stderr
    assert entry_names(results) == {*published.runs, published.baseline}
    stamp = json.loads((results / published.runs[0] / "imported.json").read_text())
    assert stamp["archive_sha256"] == digest and stamp["source"].startswith(served)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/runs.tar.gz"


def bad_bundle(kind: str, published: Published, folder: Path) -> tuple[str, tuple[str, ...]]:
    """A bad SOURCE of the given kind and the fragments its one-line refusal must name."""
    run = published.runs[1]
    files = members(published.archive)
    path = folder / f"{kind}.tar.gz"
    if kind == "truncated":
        path.write_bytes(published.archive.read_bytes()[: published.archive.stat().st_size // 2])
        return str(path), (str(path), "truncated")
    if kind == "altered file":
        files[f"{run}/history.csv"] += b"\n"
        write_bundle(path, files, update_manifest=False)
        return str(path), (f"{run}/history.csv", "altered")
    if kind == "extra file":
        files[f"{run}/notes.txt"] = b"hello"
        write_bundle(path, files, update_manifest=False)
        return str(path), (f"{run}/notes.txt", "not in its manifest")
    if kind == "link":
        write_bundle(path, files, links={f"{run}/passwd": "/etc/passwd"})
        return str(path), (f"{run}/passwd", "link")
    if kind == "path outside":
        files["../outside.txt"] = b"x"
        write_bundle(path, files, update_manifest=False)
        return str(path), ("../outside.txt", "outside")
    if kind == "key mismatch":
        files[f"{run}/config.json"] = edit_json(files[f"{run}/config.json"], seed=7)
        write_bundle(path, files)
        return str(path), (run, "altered")
    if kind == "re-score disagrees":
        metrics = json.loads(files[f"{run}/metrics.json"])
        files[f"{run}/metrics.json"] = edit_json(
            files[f"{run}/metrics.json"], test_accuracy=metrics["test_accuracy"] + 0.05
        )
        write_bundle(path, files)
        return str(path), (run, "re-scores to test_accuracy")
    if kind == "unreachable URL":
        url = closed_port_url()
        return url, (url, "cannot download")
    missing = str(folder / "nowhere.tar.gz")
    return missing, (missing, "does not exist")


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "altered file",
        "extra file",
        "link",
        "path outside",
        "key mismatch",
        "re-score disagrees",
        "unreachable URL",
        "missing path",
    ],
)
def test_a_bad_bundle_is_refused_whole_with_one_line(kind, published, results, tmp_path):
    source, fragments = bad_bundle(kind, published, tmp_path)
    status, _, stderr = run_cli("runs", "import", source)
    assert_refused(status, stderr, results, *fragments)


def test_an_entry_made_by_other_code_is_refused_naming_the_version(
    published, results, monkeypatch
):
    from fmnist_lib import training

    version = training.TRAINING_CODE_VERSION
    monkeypatch.setattr(training, "TRAINING_CODE_VERSION", version + 1)
    status, _, stderr = run_cli("runs", "import", published.archive)
    expected = f"training_code_version {version + 1} here, {version} in the bundle"
    first = min(published.runs)  # the manifest lists entries by key
    assert_refused(status, stderr, results, f"entry {first}", expected)


def test_a_missing_bundle_exits_2_from_a_real_process(tmp_path):
    missing = tmp_path / "runs.tar.gz"
    process = subprocess.run(
        [sys.executable, "-m", "fmnist_lib", "runs", "import", str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [
        f"python -m fmnist_lib: error: no bundle at {missing}: the file does not exist"
    ]


def test_an_entry_from_another_cpu_kind_is_held_to_the_cross_kind_tolerance(
    published, results, tmp_path
):
    run = published.runs[0]
    files = members(published.archive)
    metrics = json.loads(files[f"{run}/metrics.json"])
    shifted = metrics["test_accuracy"] + 0.001  # 10 images: beyond same-kind, within cross-kind
    files[f"{run}/metrics.json"] = edit_json(
        files[f"{run}/metrics.json"], test_accuracy=shifted, isa=["another CPU"]
    )
    other_cpu = write_bundle(tmp_path / "other-cpu.tar.gz", files)
    status, _, stderr = run_cli("runs", "import", other_cpu)
    assert status == 0, stderr
    (line,) = [line for line in stderr.splitlines() if run in line]
    assert "cross kind: isa: another CPU in the entry" in line
    files[f"{run}/metrics.json"] = edit_json(files[f"{run}/metrics.json"], isa=metrics["isa"])
    same_cpu = write_bundle(tmp_path / "same-cpu.tar.gz", files)
    shutil.rmtree(results)
    status, _, stderr = run_cli("runs", "import", same_cpu)
    assert_refused(status, stderr, results, run, "same kind")


@pytest.mark.parametrize(
    ("stage", "error"),
    [("extraction", KeyboardInterrupt), ("moves", KeyboardInterrupt), ("moves", OSError)],
)
def test_an_interrupted_import_leaves_only_complete_entries(
    stage, error, published, results, monkeypatch
):
    name = "_copy_hashing" if stage == "extraction" else "move_entry"
    original, calls = getattr(bundles, name), []

    def fail_after_the_first(*args):
        if len(calls) == (3 if stage == "extraction" else 1):
            raise error("disk full" if error is OSError else "")
        calls.append(args)
        return original(*args)

    monkeypatch.setattr(bundles, name, fail_after_the_first)
    # Not a temporary folder of its own: the chapters' kernels, started from this process's
    # threads, write their connection files into the same one.
    leftovers = set(Path(tempfile.gettempdir()).glob("fmnist-bundle-*"))
    status, _, stderr = run_cli("runs", "import", published.archive)
    assert status == (130 if error is KeyboardInterrupt else 2)
    assert len(stderr.strip().splitlines()) == 1 + (stage == "moves")  # the first entry's line
    assert "Traceback" not in stderr
    assert set(Path(tempfile.gettempdir()).glob("fmnist-bundle-*")) == leftovers
    if stage == "extraction":
        assert not results.exists()
        return
    (entry,) = results.iterdir()  # no temporary folder beside it
    files = bundles.entry_files(bundles.entry_kind(entry.name))
    assert entry_names(entry) == {*files, "imported.json"}
    if error is OSError:
        assert "cannot move entry" in stderr and "disk full" in stderr
        return
    monkeypatch.setattr(bundles, name, original)  # not undo(): that would unset the cache too
    status, _, stderr = run_cli("runs", "import", published.archive)
    assert status == 0 and stderr.count("already cached") == 1
    assert entry_names(results) == {*published.runs, published.baseline}


RECORDED = {"test_accuracy": 0.8123, "test_cross_entropy": 0.4321, "test_loss": 0.45}


@pytest.mark.parametrize(
    ("tolerance", "name", "allowed"),
    [
        (RESCORE_SAME_KIND, "test_accuracy", 1e-6),
        (RESCORE_SAME_KIND, "test_cross_entropy", 0.4321e-5),
        (RESCORE_CROSS_KIND, "test_accuracy", 0.00205),
        (RESCORE_CROSS_KIND, "test_cross_entropy", 0.01),
        (VERIFY_CROSS_KIND, "test_accuracy", 0.01),
        (VERIFY_CROSS_KIND, "test_loss", 0.045),
    ],
)
def test_a_difference_just_inside_a_tolerance_passes_and_just_outside_fails(
    tolerance, name, allowed
):
    for sign in (1, -1):
        inside = {**RECORDED, name: RECORDED[name] + sign * 0.99 * allowed}
        outside = {**RECORDED, name: RECORDED[name] + sign * 1.01 * allowed}
        assert out_of_tolerance(RECORDED, inside, tolerance) == []
        assert out_of_tolerance(RECORDED, outside, tolerance) == [name]


@pytest.mark.parametrize("correct", [1000, 8000, 8123, 9999])
def test_the_rescore_tolerances_in_test_images(correct):
    """Same kind: not one of the 10,000 test images may change class; cross kind: 20 may, not 21,
    whichever way Keras's float32 accuracy was rounded."""
    from fmnist_lib.data import N_TEST

    recorded = {"test_accuracy": float(np.float32(correct / N_TEST))}
    for sign in (1, -1):
        moved = {n: {"test_accuracy": (correct + sign * n) / N_TEST} for n in (1, 20, 21)}
        assert out_of_tolerance(recorded, moved[1], RESCORE_SAME_KIND) == ["test_accuracy"]
        assert out_of_tolerance(recorded, moved[20], RESCORE_CROSS_KIND) == []
        assert out_of_tolerance(recorded, moved[21], RESCORE_CROSS_KIND) == ["test_accuracy"]
    assert out_of_tolerance(recorded, {"test_accuracy": correct / N_TEST}, RESCORE_SAME_KIND) == []


def test_a_rescore_is_same_kind_only_where_cpu_tensorflow_and_precision_all_match():
    import tensorflow as tf

    from fmnist_lib import provenance

    here = {"isa": provenance.probe()["isa"], "tensorflow": tf.__version__, "precision": "float32"}
    assert bundles.rescore_differences(here, "seed-mlp") == []
    assert bundles.rescore_tolerance([]) == RESCORE_SAME_KIND
    for field, other in (("isa", ["AVX2"]), ("tensorflow", "2.0.0"), ("precision", "bfloat16")):
        differ = bundles.rescore_differences({**here, field: other}, "seed-mlp")
        assert len(differ) == 1 and differ[0].startswith(f"{field}: ")
        assert bundles.rescore_tolerance(differ) == RESCORE_CROSS_KIND
    # A run cached before its precision was recorded: the saved model's policy stands in.
    older = {k: v for k, v in here.items() if k != "precision"}
    assert bundles.rescore_differences(older, "seed-mlp", "float32") == []
    assert bundles.rescore_differences(older, "seed-mlp")[0].startswith("precision: not recorded")


def test_the_same_kind_verify_tolerance_is_bit_for_bit():
    value = {"history val_loss epoch 1": 0.6, "test_accuracy": 0.8}
    assert out_of_tolerance(value, dict(value), VERIFY_SAME_KIND) == []
    nudged = {name: float(np.nextafter(v, 1.0)) for name, v in value.items()}
    assert out_of_tolerance(value, nudged, VERIFY_SAME_KIND) == list(value)
    assert out_of_tolerance({"x": float("nan")}, {"x": float("nan")}, VERIFY_SAME_KIND) == []
    assert out_of_tolerance({"x": 1.0}, {}, VERIFY_CROSS_KIND) == ["x"]


def test_train_verify_reproduces_a_run_bit_for_bit_and_reports_a_tampered_history(
    published, tmp_path, monkeypatch
):
    key = published.runs[0]
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(published.cache))
    status, stdout, stderr = run_cli("train", "--verify", key)
    assert status == 0, stderr
    record = json.loads(stdout)
    assert (record["key"], record["mode"], record["passed"]) == (key, "same kind", True)
    assert record["kind_differences"] == [] and record["mismatches"] == []
    assert set(record["largest_differences"].values()) == {0.0}
    tampered = tmp_path / "results"
    shutil.copytree(published.cache / key, tampered / key)
    history = tampered / key / "history.csv"
    frame = pd.read_csv(history, index_col="epoch")
    frame.loc[1, "val_loss"] = np.nextafter(frame.loc[1, "val_loss"], 0.0)  # one bit off
    frame.to_csv(history)
    monkeypatch.setenv("FMNIST_RESULTS_DIR", str(tampered))
    status, stdout, _ = run_cli("train", "--verify", key)
    record = json.loads(stdout)
    assert status == 1 and record["passed"] is False
    assert record["mode"] == "same kind"
    assert record["mismatches"] == ["history val_loss epoch 1"]


def test_a_run_retrained_on_another_cpu_kind_is_held_to_the_cross_kind_tolerance(
    published, tmp_path
):
    key = published.runs[0]
    cached, fresh = tmp_path / "cached" / key, tmp_path / "fresh" / key
    shutil.copytree(published.cache / key, cached)
    shutil.copytree(published.cache / key, fresh)
    metrics = json.loads((fresh / "metrics.json").read_text())
    for shift, passed in ((0.009, True), (0.011, False)):
        accuracy = metrics["test_accuracy"] + shift
        moved = {**metrics, "isa": ["another CPU"], "test_accuracy": accuracy}
        (fresh / "metrics.json").write_text(json.dumps(moved))
        record = bundles.compare_runs(cached, fresh)
        assert record["mode"] == "cross kind" and record["passed"] is passed
        assert record["kind_differences"][0].startswith("isa: ")
        assert record["largest_differences"]["test_accuracy"] == pytest.approx(shift)


def test_verify_refuses_a_baseline_and_an_unknown_key(published):
    with pytest.raises(BundleError, match="is a baseline"):
        bundles.verify_run(published.baseline, published.cache)
    with pytest.raises(BundleError, match="seed-mlp-nope"):
        bundles.verify_run("seed-mlp-nope", published.cache)
