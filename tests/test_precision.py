"""The precision a mixed-precision model trains in: bfloat16 only on hardware that has it."""

import pytest

from fmnist_lib import precision
from fmnist_lib.precision import choose_precision, cpu_bfloat16, gpu_bfloat16, precision_setting

# ISA lists as `provenance.isa_features` gives them, and as `describe` writes them, per CPU kind.
CPU_KINDS = [
    ([], "float32"),  # an ARM laptop, or a CPU cpuinfo says nothing about
    (["AVX2"], "float32"),  # most laptops and cloud runners (GitHub's AMD EPYC 7763)
    (["AVX2", "AVX-512"], "float32"),  # Skylake-X, Ice Lake: AVX-512 without bfloat16
    (["AVX2", "AVX-512", "AVX512_BF16"], "bfloat16"),  # Cooper Lake, AMD Zen 4 and later
    (["AVX2", "AVX-512", "AVX512_BF16", "AMX"], "bfloat16"),  # Sapphire Rapids
    (["AVX2", "AMX"], "bfloat16"),
]


@pytest.mark.parametrize(("isa", "expected"), CPU_KINDS)
def test_auto_chooses_bfloat16_only_for_a_cpu_with_bfloat16_instructions(isa, expected):
    assert choose_precision("auto", isa) == expected
    assert choose_precision("auto", ", ".join(isa)) == expected  # as `report` writes the ISA


def test_cpu_bfloat16_names_amx_before_avx512_bf16_and_none_without_either():
    assert cpu_bfloat16("AVX2, AVX-512, AVX512_BF16, AMX") == "AMX"
    assert cpu_bfloat16(["AVX2", "AVX-512", "AVX512_BF16"]) == "AVX512_BF16"
    assert cpu_bfloat16("AVX2, AVX-512") is None
    assert cpu_bfloat16("") is None and cpu_bfloat16([]) is None


def test_a_gpu_decides_by_its_compute_capability_whatever_the_cpu():
    assert gpu_bfloat16([(8, 0)]) and gpu_bfloat16([(9, 0)]) and gpu_bfloat16([(7, 5), (8, 6)])
    assert not gpu_bfloat16([(7, 5)]) and not gpu_bfloat16([])
    assert choose_precision("auto", ["AVX2"], [(9, 0)]) == "bfloat16"  # an H100 on an AVX2 host
    assert choose_precision("auto", ["AVX512_BF16"], [(7, 0)]) == "float32"  # a V100


@pytest.mark.parametrize("setting", ["float32", "bfloat16"])
def test_a_setting_overrides_the_hardware(setting):
    for isa, _ in CPU_KINDS:
        assert choose_precision(setting, isa) == setting


def test_the_setting_comes_from_the_environment_and_a_bad_one_names_the_variable():
    assert precision_setting({}) == "auto"
    assert precision_setting({"FMNIST_PRECISION": ""}) == "auto"
    assert precision_setting({"FMNIST_PRECISION": " Float32 "}) == "float32"
    with pytest.raises(ValueError, match=r"FMNIST_PRECISION='fp16' is not a precision; set it to"):
        precision_setting({"FMNIST_PRECISION": "fp16"})
    with pytest.raises(ValueError, match="precision must be one of"):
        choose_precision("fp16", ["AVX2"])


def test_machine_precision_follows_the_setting_and_else_this_machines_hardware():
    from fmnist_lib import provenance

    assert precision.machine_precision({"FMNIST_PRECISION": "bfloat16"}) == "bfloat16"
    here = choose_precision("auto", provenance.probe()["isa"], precision.gpu_capabilities())
    assert precision.machine_precision({}) == here
