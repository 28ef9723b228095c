import json
import subprocess
import sys

import keras
import tensorflow as tf

from fmnist_lib import provenance
from fmnist_lib.provenance import (
    FIELDS,
    NOT_RECORDED,
    cpu_model,
    describe,
    isa_features,
    probe,
    read_cpuinfo,
    schedulable_cpus,
    thread_counts,
)

# Two processors of a /proc/cpuinfo, shortened: the fields are read from the first one.
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx avx2 fma avx512f avx512dq avx512_bf16 amx_bf16 amx_tile amx_int8
"""
HASWELL = """processor\t: 0
model name\t: Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz
flags\t\t: fpu sse2 avx avx2 fma
"""


def test_cpu_model_reads_the_model_name_line():
    assert cpu_model(SAPPHIRE_RAPIDS) == "Intel(R) Xeon(R) Platinum 8480+"
    assert cpu_model(HASWELL) == "Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz"


def test_cpu_model_without_cpuinfo_falls_back_to_what_platform_knows(monkeypatch):
    monkeypatch.setattr(provenance.platform, "processor", lambda: "")
    monkeypatch.setattr(provenance.platform, "machine", lambda: "arm64")
    assert cpu_model("") == "arm64"


def test_isa_features_name_avx2_avx512_bf16_and_amx_from_the_flags():
    assert isa_features(SAPPHIRE_RAPIDS) == ["AVX2", "AVX-512", "AVX512_BF16", "AMX"]
    assert isa_features(HASWELL) == ["AVX2"]
    assert isa_features("flags : fpu sse2 avx512dq avx512_bf16x") == []  # whole flags only
    assert isa_features("") == []


def test_read_cpuinfo_of_a_missing_file_is_empty(tmp_path):
    assert read_cpuinfo(tmp_path / "cpuinfo") == ""
    (tmp_path / "cpuinfo").write_text(HASWELL)
    assert read_cpuinfo(tmp_path / "cpuinfo") == HASWELL


def test_thread_counts_resolve_a_default_setting_to_the_environment_or_the_cpus(monkeypatch):
    for kind in ("intra", "inter"):
        monkeypatch.setattr(tf.config.threading, f"get_{kind}_op_parallelism_threads", lambda: 0)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTEROP_THREADS", "3")
    counts = thread_counts()
    assert counts["intra_op_threads_setting"] == counts["inter_op_threads_setting"] == 0
    assert counts["intra_op_threads"] == counts["cpu_count"] == schedulable_cpus()
    assert counts["inter_op_threads"] == 3


def test_thread_counts_report_the_pools_tensorflow_was_given():
    script = (
        "import json, tensorflow as tf\n"
        "tf.config.threading.set_intra_op_parallelism_threads(1)\n"
        "tf.config.threading.set_inter_op_parallelism_threads(5)\n"
        "from fmnist_lib.provenance import thread_counts\n"
        "print(json.dumps(thread_counts()))\n"
    )
    process = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr
    counts = json.loads(process.stdout.splitlines()[-1])
    assert (counts["intra_op_threads_setting"], counts["intra_op_threads"]) == (1, 1)
    assert (counts["inter_op_threads_setting"], counts["inter_op_threads"]) == (5, 5)


def test_probe_records_every_field_with_the_running_versions(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(HASWELL)
    monkeypatch.setattr(provenance, "gpu_names", lambda: [])
    facts = probe(tmp_path / "cpuinfo")
    assert set(facts) == set(FIELDS)
    assert facts["device"] == facts["cpu"] == "Intel(R) Xeon(R) CPU E5-2680 v3 @ 2.50GHz"
    assert facts["isa"] == ["AVX2"]
    assert (facts["tensorflow"], facts["keras"]) == (tf.__version__, keras.__version__)
    assert json.loads(json.dumps(facts)) == facts  # it goes into metrics.json as it is


def test_probe_names_the_gpu_as_the_device_when_tensorflow_sees_one(tmp_path, monkeypatch):
    (tmp_path / "cpuinfo").write_text(SAPPHIRE_RAPIDS)
    monkeypatch.setattr(provenance, "gpu_names", lambda: ["NVIDIA H100 80GB HBM3"])
    facts = probe(tmp_path / "cpuinfo")
    assert facts["device"] == "NVIDIA H100 80GB HBM3"
    assert facts["cpu"] == "Intel(R) Xeon(R) Platinum 8480+"


def test_gpu_names_match_the_gpus_tensorflow_lists():
    assert len(provenance.gpu_names()) == len(tf.config.list_physical_devices("GPU"))


def test_describe_puts_a_recorded_run_into_words():
    metrics = {
        "device": "AMD EPYC",
        "isa": ["AVX2", "AVX-512"],
        "intra_op_threads": 2,
        "inter_op_threads": 1,
        "tensorflow": "2.21.0",
        "keras": "3.15.1",
        "precision": "float32",
    }
    assert describe(metrics) == {
        "device": "AMD EPYC",
        "isa": "AVX2, AVX-512",
        "threads": "2 intra-op, 1 inter-op",
        "precision": "float32",
        "versions": "TensorFlow 2.21.0, Keras 3.15.1",
    }
    assert describe({**metrics, "isa": []})["isa"] == "none of AVX2, AVX-512, AVX512_BF16, AMX"


def test_describe_says_not_recorded_for_a_run_cached_before_provenance():
    older = {"test_loss": 0.3, "keras": "3.15.1", "tensorflow": "2.21.0"}
    words = describe(older)
    assert words["device"] == words["isa"] == words["threads"] == NOT_RECORDED
    assert words["precision"] == NOT_RECORDED
    assert words["versions"] == "TensorFlow 2.21.0, Keras 3.15.1"
    assert set(describe({}).values()) == {NOT_RECORDED}


def test_probe_on_this_machine_reads_its_own_cpuinfo():
    facts = probe()
    if provenance.CPUINFO.is_file():
        assert facts["cpu"] == cpu_model(provenance.CPUINFO.read_text())
        assert facts["isa"] == isa_features(provenance.CPUINFO.read_text())
    assert facts["cpu_count"] >= 1 and facts["intra_op_threads"] >= 1
