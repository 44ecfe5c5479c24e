"""The GPU catalogue: each GPU's total memory as its driver reports it, in exact bytes."""

from __future__ import annotations

import difflib
import re
from decimal import Decimal

from kvcalc.errors import InputError
from kvcalc.values import value

MIB = 1024**2
GIB = 1024**3


@value
class Gpu:
    """One GPU and its total memory: `nvidia-smi` (`rocm-smi` for AMD) total, in bytes.

    `confirmed` is False where the figure is nominal or was seen in a single report; `basis`
    says which.
    """

    name: str
    label: str
    memory_bytes: int
    basis: str
    aliases: tuple[str, ...] = ()
    confirmed: bool = True
    arch: str = "hopper"  # ampere, ada, hopper, blackwell, volta, turing, cdna2/3/4, gaudi, apple
    # Unified memory (Apple): what one process may use on the GPU by default, the Metal
    # working-set limit; None: all of `memory_bytes` is the GPU's.
    limit_bytes: int | None = None

    @property
    def budget_bytes(self) -> int:
        """The memory `fit` divides: the GPU's, or the working-set limit of unified memory."""
        return self.limit_bytes if self.limit_bytes is not None else self.memory_bytes

    @property
    def memory_mib(self) -> int | None:
        """The size in whole MiB, as nvidia-smi prints it; None if it is not whole MiB."""
        whole, rest = divmod(self.memory_bytes, MIB)
        return None if rest else whole


def _gpu(
    name: str, label: str, mib: int, basis: str, *aliases: str, confirmed: bool = True,
    arch: str = "hopper", limit_bytes: int | None = None,
) -> Gpu:  # fmt: skip
    return Gpu(name, label, mib * MIB, basis, aliases, confirmed, arch, limit_bytes)


def _apple(
    name: str, label: str, ram_gib: int, limit_bytes: int, basis: str, *aliases: str,
    confirmed: bool = True,
) -> Gpu:  # fmt: skip
    """A Mac: all of its RAM, and the Metal working-set limit one process gets by default."""
    return _gpu(name, label, ram_gib * 1024, basis, *aliases, confirmed=confirmed, arch="apple",
                limit_bytes=limit_bytes)  # fmt: skip


def _mb(figure: str) -> int:
    """llama.cpp's `recommendedMaxWorkingSetSize = N MB` in bytes. Its Metal backend prints
    bytes / 1e6 with two decimals (older builds printed MiB, labelled MB), so this is the
    figure to 10 kB, not to the byte."""
    return int(Decimal(figure) * 10**6)


# How the engines' block-size rules see each architecture (kvcalc.engines.deployment).
_ENGINE_ARCH = {"volta": "ampere", "turing": "ampere", "ampere": "ampere", "ada": "ada",
                "hopper": "hopper", "blackwell": "blackwell"}  # fmt: skip


def engine_arch(gpu: Gpu) -> str | None:
    """The --gpu-arch the engines' defaults follow for `gpu`; None (Hopper's rules, said in
    the output) for GPUs outside NVIDIA's line."""
    return _ENGINE_ARCH.get(gpu.arch)


# nvidia-smi reports memory.total in MiB (1024**2 bytes); each figure below is that total as
# printed by the driver (rocm-smi for AMD, hl-smi for Gaudi), not the marketing size. Sources
# are public driver outputs; Apple rows are described where they start.
CATALOGUE: tuple[Gpu, ...] = (
    _gpu("h100", "NVIDIA H100 80GB HBM3 (SXM5)", 81559,
         "nvidia-smi: 81559MiB (NVIDIA/nccl#1264; modal-labs/modal-client#2797)",
         "h100-sxm", "h100-sxm5", "h100-80gb", arch="hopper"),
    _gpu("h100-pcie", "NVIDIA H100 PCIe (80 GB)", 81559,
         "nvidia-smi: 81559 MiB in one TensorRT-LLM test report only; same as the SXM part",
         confirmed=False, arch="hopper"),
    _gpu("h100-nvl", "NVIDIA H100 NVL (94 GB)", 95830,
         "nvidia-smi: 95830MiB (several public outputs, drivers 550-610)", arch="hopper"),
    _gpu("h200", "NVIDIA H200 (141 GB)", 143771,
         "nvidia-smi: 143771MiB (several public outputs)", "h200-sxm", arch="hopper"),
    _gpu("b200", "NVIDIA B200 (180 GB)", 183359,
         "nvidia-smi: 183359MiB (several public outputs, drivers 570-595)", arch="blackwell"),
    _gpu("gb200", "NVIDIA GB200, one Blackwell GPU (186 GB)", 189471,
         "nvidia-smi: 189471 MiB (several public outputs, e.g. TACC Vista GB200 nodes)",
         arch="blackwell"),
    _gpu("b300", "NVIDIA B300 SXM6 AC (288 GB)", 275040,
         "nvidia-smi: 275040 MiB (several public outputs, e.g. AWS p6-b300)", arch="blackwell"),
    _gpu("gb300", "NVIDIA GB300, one Blackwell Ultra GPU", 284208,
         "nvidia-smi: 284208 MiB in a single public listing only", confirmed=False,
         arch="blackwell"),
    _gpu("a100-80gb", "NVIDIA A100-SXM4-80GB", 81920,
         "nvidia-smi: 81920MiB (modal-labs/modal-client#2797; many outputs)",
         "a100", "a100-80", "a100-sxm4-80gb", arch="ampere"),
    _gpu("a100-80gb-pcie", "NVIDIA A100 80GB PCIe", 81920,
         "nvidia-smi: 81920 MiB (several public outputs)", "a100-pcie", arch="ampere"),
    _gpu("a100-40gb", "NVIDIA A100-SXM4-40GB", 40960,
         "nvidia-smi: 40960MiB on current drivers (modal-labs/modal-client#2797); older "
         "drivers printed 40536MiB", "a100-40", "a100-sxm4-40gb", arch="ampere"),
    _gpu("l40s", "NVIDIA L40S (48 GB)", 46068,
         "nvidia-smi: 46068MiB (modal-labs/modal-client#2797; many outputs)", arch="ada"),
    _gpu("l40", "NVIDIA L40 (48 GB)", 46068, "nvidia-smi: 46068 MiB (several public outputs)",
         arch="ada"),
    _gpu("l4", "NVIDIA L4 (24 GB)", 23034,
         "nvidia-smi: 23034MiB (modal-labs/modal-client#2797; other outputs)", arch="ada"),
    _gpu("a10", "NVIDIA A10 (24 GB)", 23028,
         "nvidia-smi: 23028MiB (modal-labs/modal-client#2797; Lambda outputs)", arch="ampere"),
    _gpu("a10g", "NVIDIA A10G (24 GB, AWS g5)", 23028,
         "nvidia-smi: 23028 MiB (public outputs; the same as the A10)", arch="ampere"),
    _gpu("t4", "NVIDIA Tesla T4 (16 GB)", 15360,
         "nvidia-smi: 15360MiB (modal-labs/modal-client#2797; other outputs)", arch="turing"),
    _gpu("rtx-4090", "NVIDIA GeForce RTX 4090 (24 GB)", 24564,
         "nvidia-smi: 24564 MiB (many public outputs)", "4090", arch="ada"),
    _gpu("rtx-3090", "NVIDIA GeForce RTX 3090 (24 GB)", 24576,
         "nvidia-smi: 24576 MiB (many public outputs)", "3090", arch="ampere"),
    _gpu("rtx-5090", "NVIDIA GeForce RTX 5090 (32 GB)", 32607,
         "nvidia-smi: 32607 MiB (many public outputs)", "5090", arch="blackwell"),
    _gpu("rtx-6000-ada", "NVIDIA RTX 6000 Ada Generation (48 GB)", 49140,
         "nvidia-smi: 49140 MiB (many public outputs)", arch="ada"),
    _gpu("rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell Workstation Edition (96 GB)", 97887,
         "nvidia-smi: 97887 MiB in a single public report only", confirmed=False, arch="blackwell"),
    _gpu("mi300x", "AMD Instinct MI300X (192 GB)", 196288,
         "rocm-smi --showmeminfo vram: 205822885888 B = 196288 MiB (several public outputs, "
         "bare metal and VF); one partitioned host reported 206141652992 B", arch="cdna3"),
    _gpu("mi325x", "AMD Instinct MI325X (256 GB)", 262144,
         "nominal 256 GiB: no rocm-smi total seen; the driver reports somewhat less (the "
         "MI300X reports 0.31 GiB under its nominal 192 GiB)", confirmed=False, arch="cdna3"),
    # Hopper variants: the China-market parts and the NVL/Grace boards.
    _gpu("h200-nvl", "NVIDIA H200 NVL (141 GB, PCIe)", 143771,
         "nvidia-smi: 143771 MiB (several public outputs, drivers 570-580); as the H200 SXM"),
    _gpu("gh200", "NVIDIA GH200, the Hopper GPU with 96 GB HBM3", 97871,
         "nvidia-smi: 97871MiB (several public outputs, named 'GH200 480GB' or 'GH200 120GB')",
         "gh200-96gb", "gh200-480gb", "gh200-120gb"),
    _gpu("gh200-144gb", "NVIDIA GH200 144G HBM3e", 146831,
         "nvidia-smi: 146831 MiB in a single public report only", "gh200-144g",
         confirmed=False),
    _gpu("h20", "NVIDIA H20 (96 GB)", 97871,
         "nvidia-smi: 97871MiB (several public outputs, e.g. driver 550.144.03)", "h20-96gb"),
    _gpu("h20-141gb", "NVIDIA H20-3e (141 GB)", 143771,
         "nvidia-smi: 143771MiB (sgl-project/sglang#6418) only", "h20-3e", confirmed=False),
    _gpu("h800", "NVIDIA H800 (80 GB, SXM)", 81559,
         "nvidia-smi: 81559MiB (several public outputs); as the H100 SXM", "h800-sxm"),
    # Ampere and Ada variants, and Volta, which planners still size for.
    _gpu("a800-80gb", "NVIDIA A800 80GB (SXM4 or PCIe)", 81920,
         "nvidia-smi: 81920MiB, SXM4 (dexmal/dexbotic#41) and PCIe (vllm-project/vllm#41519)",
         "a800", "a800-sxm4-80gb", "a800-80gb-pcie", arch="ampere"),
    _gpu("a800-40gb", "NVIDIA A800 40GB", 40960,
         "nominal: no nvidia-smi total seen; taken as the A100 40GB's 40960 MiB", "a800-40",
         confirmed=False, arch="ampere"),
    _gpu("l20", "NVIDIA L20 (48 GB)", 46068,
         "nvidia-smi: 46068MiB with ECC on (several public outputs); one host with ECC off "
         "printed 49140MiB", arch="ada"),
    _gpu("v100-16gb", "NVIDIA Tesla V100 16GB (SXM2 or PCIe)", 16384,
         "nvidia-smi: 16384MiB on current drivers, SXM2 and PCIe (several public outputs); "
         "older drivers printed 16160MiB or 16130MiB", "v100", "v100-sxm2-16gb",
         "v100-pcie-16gb", arch="volta"),
    _gpu("v100-32gb", "NVIDIA Tesla V100 32GB (SXM2 or PCIe)", 32768,
         "nvidia-smi: 32768MiB on current drivers, SXM2 and PCIe (several public outputs); "
         "older drivers printed 32510MiB", "v100-sxm2-32gb", "v100-pcie-32gb", arch="volta"),
    # AMD: rocm-smi --showmeminfo vram, in bytes. An MI250X board is two GCDs, each its own
    # device with its own memory: the row is one GCD, and --gpus counts GCDs.
    _gpu("mi250x", "AMD Instinct MI250X, one GCD (64 GB; a board is two)", 65520,
         "rocm-smi: 68702699520 B = 65520 MiB per GCD (several public outputs)", "mi250x-gcd",
         arch="cdna2"),
    _gpu("mi355x", "AMD Instinct MI355X (288 GB)", 294896,
         "rocm-smi: 309220868096 B = 294896 MiB (several public outputs, ROCm 7.x)",
         arch="cdna4"),
    _gpu("gaudi3", "Intel Gaudi 3 HL-325L (128 GB)", 131072,
         "hl-smi: 131072MiB (two public outputs, drivers 1.20.1 and 1.24.1)", "gaudi-3",
         "hl-325l", arch="gaudi"),
    # Apple: memory is all of RAM; the budget is Metal's recommendedMaxWorkingSetSize, which
    # llama.cpp logs at start-up. On macOS 14-15 the logs below show 3/4 of RAM from 36 to
    # 128 GB and 464 of 512 GiB (2/3 on 32 GB and less); macOS 26 gives more (107.52 GiB on
    # 128 GB, antirez/ds4#893), and `sysctl iogpu.wired_limit_mb` overrides it: give
    # --gpu-memory then. Names carry the RAM: the limit follows it, not the chip.
    _apple("m2-ultra-192gb", "Apple M2 Ultra, 192 GB unified memory", 192, 144 * GIB,
           "nominal: 3/4 of RAM, as the 36-128 GB logs; no log of this machine seen",
           confirmed=False),
    _apple("m3-max-128gb", "Apple M3 Max, 128 GB unified memory", 128, _mb("103079.22"),
           "llama.cpp log: recommendedMaxWorkingSetSize = 103079.22 MB in one public M3 Max "
           "log (98304.00 MiB: 3/4 of 128 GiB)", confirmed=False),
    _apple("m4-max-128gb", "Apple M4 Max, 128 GB unified memory", 128, _mb("103079.22"),
           "llama.cpp log: recommendedMaxWorkingSetSize = 103079.22 MB (two public logs)"),
    _apple("m3-ultra-512gb", "Apple M3 Ultra, 512 GB unified memory", 512, _mb("498216.21"),
           "llama.cpp log: recommendedMaxWorkingSetSize = 498216.21 MB in one public M3 Ultra "
           "log (464 GiB: only the 512 GB model has that much)", confirmed=False),
    _apple("m2-max-64gb", "Apple M1/M2 Max, 64 GB unified memory", 64, _mb("51539.61"),
           "llama.cpp log: recommendedMaxWorkingSetSize = 51539.61 MB (public M1 Max and M2 "
           "Max logs; 49152.00 MiB on an M1 Max 64 GB, ggml-org/llama.cpp#1870)",
           "m1-max-64gb"),
    _apple("m4-max-36gb", "Apple M4 Max, 36 GB unified memory", 36, _mb("28991.03"),
           "llama.cpp log: recommendedMaxWorkingSetSize = 28991.03 MB (macOS 15.7.7; one "
           "public log names the machine, one more shows the figure)", confirmed=False),
)  # fmt: skip


def _key(name: str) -> str:
    """`H100 SXM`, `h100_sxm` and `h100-sxm` alike: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _by_key() -> dict[str, Gpu]:
    table: dict[str, Gpu] = {}
    for gpu in CATALOGUE:
        for name in (gpu.name, *gpu.aliases):
            table[_key(name)] = gpu
    return table


def find_gpu(name: str) -> Gpu:
    """The catalogue GPU called `name` (or an alias, any case and punctuation)."""
    found = _by_key().get(_key(name))
    if found is not None:
        return found
    names = [gpu.name for gpu in CATALOGUE]
    close = difflib.get_close_matches(name.strip().lower(), names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise InputError(f"unknown GPU {name!r}{hint} (see `kvcalc gpus`, or give --gpu-memory SIZE)")


def custom_gpu(memory_bytes: int, text: str) -> Gpu:
    """A GPU given only by its memory (`--gpu-memory 80GiB`)."""
    return Gpu("custom", f"--gpu-memory {text}", memory_bytes, "given on the command line")
