"""Time reading the header of a 10 GB sparse GGUF file, and the memory it takes.

Writes a GGUF header (gpt-oss-120b's keys, a 200,000-token vocabulary, 700 tensor infos) with
the `gguf` writer, extends the file to 10 GB with `truncate` (sparse: no blocks on disk), then
reads it with kvcalc in-process and through `kvcalc estimate`. The targets: under 0.5 s, a few
MB of memory. Run: python benchmarks/gguf_header.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kvcalc.sources.gguf import read_gguf_file  # noqa: E402

SIZE = 10 * 1000**3
TARGET_SECONDS = 0.5


def write_header(path: Path) -> None:
    import gguf
    import numpy as np

    config = json.loads((ROOT / "tests/fixtures/configs/openai__gpt-oss-120b.json").read_text())
    writer = gguf.GGUFWriter(str(path), "gpt-oss")
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_key_length(config["head_dim"])
    writer.add_value_length(config["head_dim"])
    writer.add_sliding_window(config["sliding_window"])
    writer.add_array("tokenizer.ggml.tokens", [f"tok{i}" for i in range(200_000)])
    for i in range(700):
        writer.add_tensor_info(f"blk.{i}.w", (2880, 3072), np.dtype(np.float32), 0, raw_dtype=12)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.gguf"
        write_header(path)
        header_size = path.stat().st_size
        with path.open("r+b") as stream:
            stream.truncate(SIZE)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            header = read_gguf_file(path)
            times.append(time.perf_counter() - start)
        tracemalloc.start()
        read_gguf_file(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        cli = [_cli(str(path)) for _ in range(runs)]
        preset = [_cli("llama-3-8b") for _ in range(runs)]
    print(f"file {SIZE:,} bytes (sparse), header {header_size:,} bytes, "
          f"{header.bytes_read:,} bytes read")  # fmt: skip
    print(f"read_gguf_file: median {statistics.median(times):.3f} s, "
          f"peak Python memory {peak / 1024**2:.1f} MiB")  # fmt: skip
    print(f"kvcalc estimate FILE -q: median {statistics.median(cli):.3f} s "
          f"(kvcalc estimate llama-3-8b -q: {statistics.median(preset):.3f} s)")  # fmt: skip
    ok = statistics.median(times) < TARGET_SECONDS
    print("OK" if ok else f"SLOW: the header read is over {TARGET_SECONDS} s")


def _cli(model: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kvcalc", "estimate", model, "-q"],
                   check=True, capture_output=True, cwd=ROOT)  # fmt: skip
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
