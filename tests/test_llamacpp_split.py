"""llama.cpp's layer split over equal GPUs (`--split-mode layer`, docs/engines.md §1.2).

llama.cpp 0c1e57098 `src/llama-model.cpp` `load_tensors` (L1556-1614): the splits are each
GPU's cumulative share, normalised (equal GPUs: (g + 1) / n); with every layer offloaded,
`act_gpu_layers = n_layer + 1` slots, the last being the output layer (L1589-1590, L1614), and
slot il goes to `upper_bound(splits, il / (n_layer + 1))` (L1597), the first GPU whose
cumulative share exceeds il / (n_layer + 1). Worked by hand:

- 32 layers, 2 GPUs: 33 slots; il / 33 < 0.5 for il <= 16, so GPU 0 takes layers 0-16 (17)
  and GPU 1 layers 17-31 (15) plus the output layer.
- 32 layers, 4 GPUs: GPU 0 takes il / 33 < 0.25, il <= 8 (9); GPU 1 il <= 16 (8); GPU 2
  il <= 24 (8); GPU 3 layers 25-31 (7) plus the output layer.
- 80 layers, 3 GPUs: 81 slots; il / 81 < 1/3 for il <= 26 (27); il <= 53 (27); 54-79 (26).
- 61 layers, 4 GPUs: 62 slots; il < 15.5 (16: 0-15), il < 31 (15: 16-30), il < 46.5 (16:
  31-46), 47-60 (14) plus the output layer.
"""

from __future__ import annotations

import pytest

from kvcalc.engines import Deployment, size
from kvcalc.engines.kvbytes import Workload
from kvcalc.engines.parallel import llamacpp_split, stage_sizes
from kvcalc.errors import InputError
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dtypes import FP16
from tests.conftest import fixture_config


@pytest.mark.parametrize(
    ("layers", "gpus", "split"),
    [
        (32, 1, [32]),
        (32, 2, [17, 15]),
        (32, 4, [9, 8, 8, 7]),
        (80, 3, [27, 27, 26]),
        (61, 4, [16, 15, 16, 14]),
    ],
)
def test_llamacpp_deals_n_layer_plus_one_slots(layers: int, gpus: int, split: list[int]) -> None:
    assert llamacpp_split(layers, gpus) == split


def test_llamacpp_busiest_gpu_can_hold_one_layer_more_than_vllms_stage() -> None:
    # vLLM's get_pp_indices gives 32 layers on 2 stages 16 + 16; llama.cpp puts 17 on GPU 0.
    assert max(stage_sizes(32, 2)) == 16
    assert max(llamacpp_split(32, 2)) == 17


def test_llamacpp_pp_sizes_the_busiest_gpu_with_its_split() -> None:
    # Llama-3.1-8B: (K + V) rows of 8 x 128 f16 = 4,096 B per cell and layer; 4,096 cells
    # (one stream of n_ctx = PAD(4,096, 256)); the first of 2 GPUs holds 17 layers.
    architecture = read_architecture(fixture_config("meta-llama__Meta-Llama-3.1-8B.json"))
    result = size("llama.cpp", architecture, Workload(1, 4096), FP16, FP16, Deployment(pp=2))
    assert result.total_bytes == 17 * 4096 * 4096
    assert any("GPUs of 17, 15 layers" in note for note in result.notes)


def test_llamacpp_split_over_more_gpus_than_layers_is_refused() -> None:
    with pytest.raises(InputError, match="exceeds"):
        llamacpp_split(3, 4)
