"""The GPU catalogue: each GPU's total memory as its driver reports it, in exact bytes."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from kvcalc.errors import InputError

MIB = 1024**2


@dataclass(frozen=True)
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
    arch: str = "hopper",
) -> Gpu:  # fmt: skip
    return Gpu(name, label, mib * MIB, basis, aliases, confirmed, arch)


# How the engines' block-size rules see each architecture (kvcalc.engines.deployment).
_ENGINE_ARCH = {"volta": "ampere", "turing": "ampere", "ampere": "ampere", "ada": "ada",
                "hopper": "hopper", "blackwell": "blackwell"}  # fmt: skip


def engine_arch(gpu: Gpu) -> str | None:
    """The --gpu-arch the engines' defaults follow for `gpu`; None (Hopper's rules, said in
    the output) for GPUs outside NVIDIA's line."""
    return _ENGINE_ARCH.get(gpu.arch)


# nvidia-smi reports memory.total in MiB (1024**2 bytes); each figure below is that total as
# printed by the driver, not the marketing size. Sources are public nvidia-smi outputs.
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
