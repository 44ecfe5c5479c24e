"""Hub ids through the real huggingface_hub client, against a local hub on 127.0.0.1."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.hubserver import Fault, GeneratedFile, HubContext, unused_local_url

pytest_plugins = ["tests.conftest_hub"]

REPO = "test-org/tiny-llama"
# 2 layers x 2 (K, V) x 2 KV heads x 64 head dim x 2 bytes (bf16) = 1,024 B per token
CONFIG = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 8,
          "num_key_value_heads": 2, "hidden_size": 512, "max_position_embeddings": 4096,
          "torch_dtype": "bfloat16"}  # fmt: skip
PER_TOKEN = 1024


def config_bytes(**changes: object) -> bytes:
    return json.dumps({**CONFIG, **changes}).encode()


def total(result_stdout: str) -> int:
    value = json.loads(result_stdout)["total_bytes"]
    assert isinstance(value, int)
    return value


def assert_one_line_error(result: object, code: int, words: str) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    assert words in result.stderr  # type: ignore[attr-defined]
    assert result.stderr.count("\n") == 1, result.stderr  # type: ignore[attr-defined]
    assert result.stderr.startswith("kvcalc: error: ")  # type: ignore[attr-defined]


def test_downloads_only_config_then_works_offline(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes(), "model.safetensors": b"0" * 64})
    online = hub.kvcalc("estimate", REPO, "--seq", "100", "--json")
    assert online.returncode == 0, online.stderr
    assert total(online.stdout) == 100 * PER_TOKEN
    assert json.loads(online.stdout)["source"] == {"kind": "hub", "location": REPO}
    assert not hub.server.requests_for(filename="*.safetensors")
    offline = hub.kvcalc("estimate", REPO, "--seq", "100", "--json",
                         env=hub.env_with(HF_HUB_OFFLINE="1"))  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert total(offline.stdout) == 100 * PER_TOKEN


def test_revision(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    hub.server.add_repo(REPO, {"config.json": config_bytes(num_hidden_layers=4)}, revision="v2")
    result = hub.kvcalc("estimate", REPO, "--revision", "v2", "--seq", "10", "--json")
    assert result.returncode == 0, result.stderr
    assert total(result.stdout) == 10 * 2 * PER_TOKEN
    missing = hub.kvcalc("estimate", REPO, "--revision", "nope", "--seq", "10")
    assert_one_line_error(missing, 3, "revision not found")


def test_private_repo_needs_the_token_and_never_prints_it(hub: HubContext) -> None:
    secret = "hf_kvcalcTestSecret123"
    hub.server.add_repo(REPO, {"config.json": config_bytes()}, private=True, tokens=[secret])
    anonymous = hub.kvcalc("estimate", REPO, "--seq", "1", env=hub.env_with(KVCALC_DEBUG="1"))
    assert anonymous.returncode == 3
    assert secret not in anonymous.stderr + anonymous.stdout
    by_option = hub.kvcalc("estimate", REPO, "--seq", "1", "--token", secret, "-q")
    assert by_option.returncode == 0, by_option.stderr
    assert secret not in by_option.stderr + by_option.stdout
    assert any(r.token == secret for r in hub.server.requests_for(filename="config.json"))
    by_env = hub.kvcalc(
        "estimate",
        REPO,
        "--seq",
        "1",
        "-q",
        env=hub.env_with(HF_TOKEN=secret, HF_HUB_CACHE=str(hub.home / "b")),
    )
    assert by_env.returncode == 0, by_env.stderr  # fmt: skip


def test_wrong_token_with_debug_does_not_leak(hub: HubContext) -> None:
    secret = "hf_wrongTokenValue987"
    hub.server.add_repo(REPO, {"config.json": config_bytes()}, private=True, tokens=["hf_ok"])
    result = hub.kvcalc("estimate", REPO, "--token", secret,
                        env=hub.env_with(KVCALC_DEBUG="1"))  # fmt: skip
    assert result.returncode != 0
    assert secret not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        (Fault.gated(), "is gated: accept its terms"),
        (Fault.repo_not_found(), "repository not found"),
        (Fault.entry_not_found(), "has no config.json"),
        (Fault.server_error(500), "answered HTTP 500"),
        (Fault.rate_limited(retry_after=1), "HTTP 429"),
        (Fault.reset(), "reset the connection"),
    ],
)
def test_hub_failures_are_one_line_exit_3(hub: HubContext, fault: Fault, words: str) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    hub.server.inject(fault)
    assert_one_line_error(hub.kvcalc("estimate", REPO, "--timeout", "1"), 3, words)


def test_html_page_instead_of_json(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    hub.server.inject(Fault.html_page(200))
    assert_one_line_error(hub.kvcalc("estimate", REPO, "--timeout", "1"), 3, "config.json")


def test_offline_with_nothing_cached(hub: HubContext) -> None:
    result = hub.kvcalc("estimate", REPO, env=hub.env_with(HF_HUB_OFFLINE="1"))
    assert_one_line_error(result, 3, "offline (HF_HUB_OFFLINE is set)")


def test_connection_refused(hub: HubContext) -> None:
    result = hub.kvcalc("estimate", REPO, "--timeout", "1",
                        env=hub.env_with(HF_ENDPOINT=unused_local_url()))  # fmt: skip
    assert_one_line_error(result, 3, "cannot connect")


def test_stalled_hub_times_out_within_the_limit(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    hub.server.inject(Fault.stall(30))
    started = time.monotonic()
    result = hub.kvcalc("estimate", REPO, "--timeout", "1",
                        env=hub.env_with(HF_HUB_ETAG_TIMEOUT=None,
                                         HF_HUB_DOWNLOAD_TIMEOUT=None))  # fmt: skip
    assert_one_line_error(result, 3, "timed out")
    assert time.monotonic() - started < 20


def test_huge_config_is_refused_before_download(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": GeneratedFile.padded_json(CONFIG, 50_000_000)})
    result = hub.kvcalc("estimate", REPO)
    assert_one_line_error(result, 3, "over the 4,194,304-byte limit")
    assert not hub.server.requests_for(method="GET", filename="config.json")


def test_redirect_of_a_renamed_repo(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    hub.server.inject(Fault.redirect(f"/{REPO}/resolve/main/config.json"),
                      repo_id="old-org/old-name")  # fmt: skip
    result = hub.kvcalc("estimate", "old-org/old-name", "--seq", "3", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(3 * PER_TOKEN)


def test_cached_config_survives_a_failing_hub(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    assert hub.kvcalc("estimate", REPO, "-q").returncode == 0
    hub.server.inject(Fault.server_error(503))
    online = hub.kvcalc("estimate", REPO, "--seq", "5", "-q", "--timeout", "1")
    offline = hub.kvcalc("estimate", REPO, "--seq", "5", "-q", env=hub.env_with(HF_HUB_OFFLINE="1"))
    assert online.returncode == 0 and online.stdout.strip() == str(5 * PER_TOKEN)
    assert offline.returncode == 0 and offline.stdout.strip() == str(5 * PER_TOKEN)


@pytest.mark.parametrize("fault", [Fault.gated(), Fault.server_error(500)])
def test_preset_hub_id_falls_back_to_the_bundled_config(hub: HubContext, fault: Fault) -> None:
    hub.server.inject(fault)
    result = hub.kvcalc("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--seq", "128000",
                        "--dtype", "fp16", "--json", "--timeout", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert total(result.stdout) == 41_943_040_000
    assert "using the bundled config of meta-llama/Llama-3.3-70B-Instruct" in result.stderr


def test_preset_hub_id_unreachable_falls_back(hub: HubContext) -> None:
    result = hub.kvcalc(
        "estimate",
        "facebook/opt-30b",
        "--seq",
        "1024",
        "--batch",
        "128",
        "--dtype",
        "fp16",
        "-q",
        "--timeout",
        "1",
        env=hub.env_with(HF_ENDPOINT=unused_local_url()),
    )
    assert result.returncode == 0, result.stderr  # fmt: skip
    assert result.stdout.strip() == "180388626432"


def test_writes_nothing_outside_the_hf_cache(hub: HubContext, tmp_path: Path) -> None:
    hub.server.add_repo(REPO, {"config.json": config_bytes()})
    work = tmp_path / "cwd"
    work.mkdir()
    result = hub.kvcalc("estimate", REPO, env=hub.env_with(HOME=str(tmp_path / "home")),
                        cwd=work)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not list(work.iterdir())
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(hub.home in p.parents for p in written)
