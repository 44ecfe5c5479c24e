"""Mamba state dtypes as vLLM 0.33 and SGLang 0.5.23 choose them (docs/engines.md §1.6, §2.6).

Worked examples on Nemotron-H-56B-Base-8K (bf16; Mamba2 conv (3, 20,480), temporal
(256, 64, 256); attention 8 KV heads x (128 + 128) x 2 B = 4,096 B per token and layer):

- vLLM (`mamba_utils.py` `MambaStateDtypeCalculator._mamba_state_dtype`; `models/config.py`
  `NemotronHForCausalLMConfig.update_mamba_ssm_cache_dtype`): the conv state in
  --mamba-cache-dtype (auto: bf16), the SSM state in --mamba-ssm-cache-dtype, else the config's
  `mamba_ssm_cache_dtype`, else float32 ("auto" in the config: as the conv state).
  - SSM fp32: Mamba page 122,880 + 16,777,216 = 16,900,096; the attention block is aligned to
    16 x cdiv(16,900,096, 16 x 4,096) = 4,128 tokens, page 4,128 x 4,096 = 16,908,288; one
    block id = 10 layer slots = 169,082,880 B.
  - SSM bf16: 122,880 + 8,388,608 = 8,511,488 -> block 16 x 130 = 2,080, page 8,519,680, block
    id 85,196,800 B.
  - conv fp32 (--mamba-cache-dtype float32), SSM fp32: 245,760 + 16,777,216 = 17,022,976 ->
    block 16 x 260 = 4,160, page 17,039,360, block id 170,393,600 B.
- SGLang (`configs/mamba_utils.py` `mamba2_state_dtype`): conv bf16; SSM --mamba-ssm-dtype,
  else the config's `mamba_ssm_dtype` (not `mamba_ssm_cache_dtype`), else float32. One slot of
  the 54 Mamba layers: 54 x (122,880 + 16,777,216) = 912,605,184 B (fp32) or 54 x 8,511,488 =
  459,620,352 B (bf16); extra_buffer holds 3 slots per request.
"""

from __future__ import annotations

from typing import Any

import pytest

from kvcalc.engines import Deployment, size
from kvcalc.engines.kvbytes import Workload
from kvcalc.engines.vllm import plan
from kvcalc.errors import ConfigError, InputError
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import BF16
from tests.conftest import fixture_config

NEMOTRON = "nvidia__Nemotron-H-56B-Base-8K.json"


def _nemotron(**keys: str) -> Any:
    return read_architecture({**fixture_config(NEMOTRON), **keys})


@pytest.mark.parametrize(
    ("keys", "deployment", "block", "block_id_bytes"),
    [
        ({}, Deployment(), 4128, 169_082_880),
        ({"mamba_ssm_cache_dtype": "float32"}, Deployment(), 4128, 169_082_880),
        ({"mamba_ssm_cache_dtype": "bfloat16"}, Deployment(), 2080, 85_196_800),
        ({"mamba_ssm_cache_dtype": "auto"}, Deployment(), 2080, 85_196_800),
        # vLLM reads Nemotron-H's mamba_ssm_cache_dtype only; mamba_ssm_dtype is Qwen3.5's key.
        ({"mamba_ssm_dtype": "bfloat16"}, Deployment(), 4128, 169_082_880),
        ({}, Deployment(mamba_ssm_dtype="bf16"), 2080, 85_196_800),
        ({"mamba_ssm_cache_dtype": "bfloat16"}, Deployment(mamba_ssm_dtype="fp32"), 4128,
         169_082_880),
        ({}, Deployment(mamba_dtype="fp32"), 4160, 170_393_600),
    ],
)  # fmt: skip
def test_vllm_nemotron_h_state_dtype(
    keys: dict[str, str], deployment: Deployment, block: int, block_id_bytes: int
) -> None:
    layout = plan(_nemotron(**keys), BF16, BF16, deployment)
    assert {bucket.block for bucket in layout.buckets} == {block}
    assert layout.bytes_per_block == block_id_bytes
    assert any(note.startswith("Mamba conv state") for note in layout.settings.assumptions)


@pytest.mark.parametrize(
    ("keys", "deployment", "slot_bytes"),
    [
        ({}, Deployment(), 912_605_184),
        # SGLang reads mamba_ssm_dtype, whatever mamba_ssm_cache_dtype says.
        ({"mamba_ssm_cache_dtype": "bfloat16"}, Deployment(), 912_605_184),
        ({"mamba_ssm_dtype": "bfloat16"}, Deployment(), 459_620_352),
        # "auto" is not one of SGLang's names: float32, with a warning.
        ({"mamba_ssm_dtype": "auto"}, Deployment(), 912_605_184),
        ({}, Deployment(mamba_ssm_dtype="bf16"), 459_620_352),
    ],
)
def test_sglang_nemotron_h_state_dtype(
    keys: dict[str, str], deployment: Deployment, slot_bytes: int
) -> None:
    result = size("sglang", _nemotron(**keys), Workload(1, 1000), BF16, BF16, deployment)
    (state,) = [group for group in result.groups if group.group.state is not None]
    assert state.total_bytes == 3 * slot_bytes


def test_sglang_has_no_conv_state_dtype_option() -> None:
    with pytest.raises(InputError, match="SGLANG_MAMBA_CONV_DTYPE"):
        size("sglang", _nemotron(), Workload(1, 1000), BF16, BF16, Deployment(mamba_dtype="fp32"))


def test_a_config_ssm_dtype_outside_the_engines_names_is_refused() -> None:
    with pytest.raises(ConfigError, match="mamba_ssm_cache_dtype 'fp8'"):
        _nemotron(mamba_ssm_cache_dtype="fp8")


def test_state_dtype_options_take_auto_and_torch_names() -> None:
    from kvcalc.cli.engine_options import mamba_dtype_name

    assert mamba_dtype_name("auto") is None
    assert mamba_dtype_name("float32") == "fp32"
    assert mamba_dtype_name("bfloat16") == "bf16"
    with pytest.raises(InputError):
        Deployment(mamba_ssm_dtype="fp8")
