"""The GPU catalogue: each row's figure is the one its driver printed, typed here from the cited
public output (the basis string names it), never recomputed from the catalogue itself."""

from __future__ import annotations

import json

import pytest

from kvcalc.planning.gpus import CATALOGUE, Gpu, engine_arch, find_gpu
from tests.helpers import run_kvcalc

MIB = 1024**2
GIB = 1024**3
ARCHS = {"ampere", "ada", "hopper", "blackwell", "volta", "turing", "cdna2", "cdna3", "cdna4",
         "gaudi", "apple"}  # fmt: skip

# Driver totals as printed: nvidia-smi memory.total in MiB, rocm-smi "VRAM Total Memory (B)" in
# bytes, hl-smi memory.total in MiB.
DRIVER_TOTALS = {
    # nvidia-smi "143771MiB" on H200 NVL hosts (drivers 570.195.03 and 580.126.20)
    "h200-nvl": 143771 * MIB,
    # nvidia-smi "97871MiB" on hosts named "NVIDIA GH200 480GB" and "GH200 120GB"
    "gh200": 97871 * MIB,
    # nvidia-smi "146831 MiB" for "NVIDIA GH200 144G HBM3e" (one public report)
    "gh200-144gb": 146831 * MIB,
    # nvidia-smi "97871MiB" for "NVIDIA H20" (driver 550.144.03 and others)
    "h20": 97871 * MIB,
    # nvidia-smi "143771MiB" for "NVIDIA H20-3e" (sgl-project/sglang#6418)
    "h20-141gb": 143771 * MIB,
    # nvidia-smi "81559MiB" for "NVIDIA H800"
    "h800": 81559 * MIB,
    # nvidia-smi "81920MiB": A800-SXM4-80GB (dexmal/dexbotic#41), A800 80GB PCIe (vllm#41519)
    "a800-80gb": 81920 * MIB,
    # nvidia-smi "46068MiB" for "NVIDIA L20" with ECC on
    "l20": 46068 * MIB,
    # nvidia-smi "16384MiB" for Tesla V100-SXM2-16GB and V100-PCIE-16GB on current drivers
    "v100-16gb": 16384 * MIB,
    # nvidia-smi "32768MiB" for Tesla V100-SXM2-32GB and V100-PCIE-32GB on current drivers
    "v100-32gb": 32768 * MIB,
    # rocm-smi "VRAM Total Memory (B): 68702699520" per MI250X GCD (gfx90a)
    "mi250x": 68702699520,
    # rocm-smi "VRAM Total Memory (B)" 309220868096 for the MI355X (gfx950)
    "mi355x": 309220868096,
    # hl-smi "131072MiB" for HL-325L (drivers 1.20.1 and 1.24.1)
    "gaudi3": 131072 * MIB,
}

# Apple: all of RAM, and llama.cpp's `recommendedMaxWorkingSetSize = N MB` (MB = 1e6 bytes,
# two decimals: the figure to 10 kB) as logged at start-up.
APPLE = {
    # M3 Max 128 GB: "recommendedMaxWorkingSetSize  = 103079.22 MB" (one public log)
    "m3-max-128gb": (128 * GIB, 103_079_220_000),
    # M4 Max 128 GB: "recommendedMaxWorkingSetSize = 103079.22 MB" (two public logs)
    "m4-max-128gb": (128 * GIB, 103_079_220_000),
    # M3 Ultra: "recommendedMaxWorkingSetSize  = 498216.21 MB" (one public log)
    "m3-ultra-512gb": (512 * GIB, 498_216_210_000),
    # M1/M2 Max 64 GB: "recommendedMaxWorkingSetSize  = 51539.61 MB"
    "m2-max-64gb": (64 * GIB, 51_539_610_000),
    # M4 Max 36 GB, macOS 15.7.7: "recommendedMaxWorkingSetSize = 28991.03 MB"
    "m4-max-36gb": (36 * GIB, 28_991_030_000),
    # M2 Ultra 192 GB: no log seen; nominal 3/4 of RAM (unconfirmed)
    "m2-ultra-192gb": (192 * GIB, 144 * GIB),
}

UNCONFIRMED = {"gh200-144gb", "h20-141gb", "a800-40gb", "m2-ultra-192gb", "m3-max-128gb",
               "m3-ultra-512gb", "m4-max-36gb"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(DRIVER_TOTALS))
def test_row_is_the_driver_total(name: str) -> None:
    gpu = find_gpu(name)
    assert gpu.memory_bytes == DRIVER_TOTALS[name]
    assert gpu.budget_bytes == gpu.memory_bytes and gpu.limit_bytes is None


@pytest.mark.parametrize("name", sorted(APPLE))
def test_apple_row_is_ram_and_metal_limit(name: str) -> None:
    gpu = find_gpu(name)
    ram, limit = APPLE[name]
    expected = ("apple", ram, limit, limit)
    assert (gpu.arch, gpu.memory_bytes, gpu.limit_bytes, gpu.budget_bytes) == expected


def test_every_row_has_a_basis_an_arch_and_a_unique_name() -> None:
    keys = [key for gpu in CATALOGUE for key in (gpu.name, *gpu.aliases)]
    assert len(keys) == len(set(keys))
    for gpu in CATALOGUE:
        assert gpu.basis.strip() and gpu.arch in ARCHS, gpu.name


def test_unified_memory_budget_is_below_ram() -> None:
    apple = [gpu for gpu in CATALOGUE if gpu.arch == "apple"]
    assert {gpu.name for gpu in apple} == set(APPLE)
    assert all(gpu.limit_bytes is not None and gpu.budget_bytes < gpu.memory_bytes
               for gpu in apple)  # fmt: skip


def test_unconfirmed_rows_are_marked() -> None:
    assert {gpu.name for gpu in CATALOGUE if not gpu.confirmed} >= UNCONFIRMED
    for name in UNCONFIRMED:
        basis = find_gpu(name).basis
        assert "nominal" in basis or "one " in basis or "single" in basis or "only" in basis


def test_variants_resolve_to_their_own_rows() -> None:
    assert find_gpu("V100-SXM2-32GB").name == "v100-32gb"
    assert find_gpu("v100").name == "v100-16gb"
    assert find_gpu("H20-3e").name == "h20-141gb"
    assert find_gpu("GH200 480GB").memory_bytes != find_gpu("gh200-144gb").memory_bytes
    assert find_gpu("a800").name == "a800-80gb" and find_gpu("a800-40gb").confirmed is False
    assert "one GCD" in find_gpu("mi250x").label


def test_engine_arch_of_new_rows() -> None:
    assert engine_arch(find_gpu("v100")) == "ampere"  # Volta follows the pre-Ada rules
    assert engine_arch(find_gpu("h20")) == "hopper"
    for name in ("mi355x", "gaudi3", "m4-max-128gb"):
        assert engine_arch(find_gpu(name)) is None


def _listed(gpu: Gpu, record: dict[str, object]) -> bool:
    keys = ("memory_bytes", "budget_bytes", "arch", "basis")
    return [record[key] for key in keys] == [getattr(gpu, key) for key in keys]


def test_kvcalc_gpus_lists_every_row() -> None:
    result = run_kvcalc("gpus", "--json")
    assert result.returncode == 0, result.stderr
    records = {record["name"]: record for record in json.loads(result.stdout)}
    for name in (*DRIVER_TOTALS, *APPLE, "a800-40gb"):
        assert _listed(find_gpu(name), records[name]), name
    assert records["m4-max-128gb"]["budget_bytes"] == 103_079_220_000
    assert records["m4-max-128gb"]["memory_mib"] == 131072
