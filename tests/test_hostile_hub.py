"""A hostile hub on 127.0.0.1 against the real client: each README guarantee, one fault each.

Every test runs `python -m kvcalc` against `tests/hubserver.py` and asserts the property the
README promises: nothing written outside HF_HOME, no secret on any stream, bounded reads and
memory, one deadline held, one line on stderr, the exit code.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.hubserver import Fault, GeneratedFile, HubContext, unused_local_url

pytest_plugins = ["tests.conftest_hub"]

REPO = "test-org/tiny-llama"
CONFIG = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 8,
          "num_key_value_heads": 2, "hidden_size": 512, "max_position_embeddings": 4096,
          "torch_dtype": "bfloat16"}  # fmt: skip
CONFIG_BYTES = json.dumps(CONFIG).encode()
MIB = 1024 * 1024
SLACK_SECONDS = 5  # a loaded 2-core machine: process start-up and scheduling
AT_ONCE_SECONDS = 8  # well before the default --timeout of 10 s (it used to take 20 s)


def one_error_line(result: object, code: int, *words: str) -> str:
    stderr: str = result.stderr  # type: ignore[attr-defined]
    assert result.returncode == code, stderr  # type: ignore[attr-defined]
    assert result.stdout == ""  # type: ignore[attr-defined]
    assert stderr.startswith("kvcalc: error: ") and stderr.count("\n") == 1, stderr
    for word in words:
        assert word in stderr
    return stderr


def files_outside(root: Path, home: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and home not in p.parents]


# --- nothing outside HF_HOME ------------------------------------------------------------------


HOSTILE_REVISIONS = ["{tmp}/victim", "../../../victim", "main/../../victim", "..", "a\nb",
                     "refs\\..\\x", ".hidden", "v1.lock"]  # fmt: skip


@pytest.mark.parametrize("revision", HOSTILE_REVISIONS)
def test_revision_that_names_a_path_is_refused(
    hub: HubContext, tmp_path: Path, revision: str
) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    revision = revision.format(tmp=tmp_path)
    result = hub.kvcalc("estimate", REPO, "--revision", revision, cwd=hub.home)
    one_error_line(result, 1, "is not a branch, tag or commit name")
    assert not files_outside(tmp_path, hub.home)
    assert not list(hub.home.rglob("*"))
    assert not hub.server.requests


def test_valid_revisions_still_work(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES}, revision="refs/pr/1")
    result = hub.kvcalc("estimate", REPO, "--revision", "refs/pr/1", "-q", "--seq", "1")
    assert result.returncode == 0, result.stderr
    assert (hub.cache_dir / "models--test-org--tiny-llama" / "refs" / "refs" / "pr" / "1").is_file()


@pytest.mark.parametrize(
    "headers",
    [{"ETag": '"../../../../escaped"'}, {"ETag": '"{tmp}/escaped"'},
     {"X_Linked_Etag": '"../../../escaped"'}],
    ids=["relative-etag", "absolute-etag", "linked-etag"],
)  # fmt: skip
def test_server_etag_never_becomes_a_path(
    hub: HubContext, tmp_path: Path, headers: dict[str, str]
) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.inject(Fault.with_headers(**{k: v.format(tmp=tmp_path) for k, v in headers.items()}))
    result = hub.kvcalc("estimate", REPO, "-q", "--seq", "1", cwd=hub.home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1024"
    assert not files_outside(tmp_path, hub.home)
    commit = hub.server.commit_sha(REPO)
    snapshot = hub.cache_dir / "models--test-org--tiny-llama" / "snapshots" / commit
    assert (snapshot / "config.json").read_bytes() == CONFIG_BYTES


@pytest.mark.parametrize("commit", ["../../../../escaped", "{tmp}/escaped", "not-a-commit"])
def test_server_commit_that_is_not_a_hash_is_refused(
    hub: HubContext, tmp_path: Path, commit: str
) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.inject(Fault.with_headers(X_Repo_Commit=commit.format(tmp=tmp_path)))
    result = hub.kvcalc("estimate", REPO, cwd=hub.home)
    one_error_line(result, 3, "named no commit")
    assert not files_outside(tmp_path, hub.home)
    assert not [p for p in hub.home.rglob("*") if p.is_file()]


# --- no secret on any stream -------------------------------------------------------------------


def test_token_with_a_carriage_return_is_used_and_never_printed(hub: HubContext) -> None:
    secret = "hf_crlfTokenSecret4242"
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES}, private=True, tokens=[secret])
    ok = hub.kvcalc("estimate", REPO, "-q", "--seq", "1", "--token", secret + "\r")
    assert ok.returncode == 0, ok.stderr
    assert secret not in ok.stdout + ok.stderr
    debug = hub.env_with(KVCALC_DEBUG="1")
    hub.server.inject(Fault.server_error(500))
    failed = hub.kvcalc("estimate", "other/repo", "--token", secret + "\r", "--timeout", "1",
                        env=debug)  # fmt: skip
    assert failed.returncode == 3
    assert secret not in failed.stdout + failed.stderr


def test_token_in_a_fallback_note_is_redacted(hub: HubContext) -> None:
    secret = "plainsecret\r"  # not shaped like a hub token: only its value can hide it
    hub.server.inject(Fault.server_error(500))
    result = hub.kvcalc("estimate", "meta-llama/Llama-3.3-70B-Instruct", "--seq", "8", "-q",
                        "--token", secret, "--timeout", "1")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "kvcalc: note:" in result.stderr
    assert "plainsecret" not in result.stdout + result.stderr


@pytest.mark.parametrize("token", ["hf_has space9999", "hf_bell\x07ringing99", "\r\n"])
def test_malformed_token_is_refused_without_echo(hub: HubContext, token: str) -> None:
    result = hub.kvcalc("estimate", REPO, "--token", token, env=hub.env_with(KVCALC_DEBUG="1"))
    assert result.returncode == 1
    assert result.stderr.rstrip("\n").endswith("--token holds spaces or control characters: "
                                               "not a hub token")  # fmt: skip
    assert token.strip() not in result.stderr or not token.strip()
    assert not hub.server.requests


@pytest.mark.parametrize("fault", [None, Fault.server_error(500), Fault.gated()],
                         ids=["not-found", "http-500", "gated"])  # fmt: skip
def test_endpoint_password_is_never_printed(hub: HubContext, fault: Fault | None) -> None:
    if fault is not None:
        hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
        hub.server.inject(fault)
    endpoint = hub.url.replace("http://", "http://alice:Pa55word-xyz@")
    result = hub.kvcalc("estimate", REPO, "--timeout", "1",
                        env=hub.env_with(HF_ENDPOINT=endpoint, KVCALC_DEBUG="1"))  # fmt: skip
    assert result.returncode == 3
    assert "Pa55word-xyz" not in result.stdout + result.stderr
    assert "kvcalc: error: " in result.stderr


def test_refused_endpoint_password_is_never_printed(hub: HubContext) -> None:
    endpoint = unused_local_url().replace("http://", "http://bob:Hunter2-secret@")
    result = hub.kvcalc("estimate", REPO, env=hub.env_with(HF_ENDPOINT=endpoint))
    one_error_line(result, 3, "connection refused")
    assert "Hunter2-secret" not in result.stderr


# --- every read has a byte budget; nothing partial is left -----------------------------------

# VmHWM, not getrusage: ru_maxrss keeps the high-water mark of the process this one was
# forked from (the test runner), VmHWM starts afresh at exec.
RSS_WRAPPER = """
import atexit, sys
from kvcalc.cli.main import main
report = sys.argv.pop(1)
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            open(report, "w").write(line.split()[1])
atexit.register(peak)
sys.argv[0] = "kvcalc"
main()
"""


def kvcalc_with_peak_memory(hub: HubContext, tmp_path: Path, *args: str) -> tuple[object, int]:
    """Run kvcalc in a process that reports its peak resident memory (bytes)."""
    report = tmp_path / "maxrss"
    env = {**hub.env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    result = hub.run([sys.executable, "-c", RSS_WRAPPER, str(report), *args], env=env)
    return result, int(report.read_text()) * 1024


def test_server_ignoring_range_cannot_make_fit_read_the_weights(
    hub: HubContext, tmp_path: Path
) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.add_safetensors(REPO, {"embed": ("BF16", [512 * MIB])})  # a 1 GiB file
    hub.server.inject(Fault.ignore_range(), filename="*.safetensors", method="GET")
    result, peak = kvcalc_with_peak_memory(hub, tmp_path, "fit", REPO, "--gpu", "h100", "--json")
    assert result.returncode == 0, result.stderr  # type: ignore[attr-defined]
    weights = json.loads(result.stdout)["weights"]  # type: ignore[attr-defined]
    assert weights["total_bytes"] == 1024 * MIB
    sent = sum(r.body_bytes_sent for r in hub.server.requests_for(filename="*.safetensors"))
    assert sent < 64 * MIB
    assert peak < 400 * MIB


def test_huge_index_is_refused_before_download(hub: HubContext) -> None:
    index = GeneratedFile.padded_json({"weight_map": {"a": "model-1.safetensors"}}, 300 * MIB)
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES,
                               "model.safetensors.index.json": index})  # fmt: skip
    result = hub.kvcalc("fit", REPO, "--gpu", "h100")
    one_error_line(result, 3, "over the 67,108,864-byte limit")
    assert not hub.server.downloads_of("model.safetensors.index.json")


def test_index_lying_about_its_size_is_cut_at_the_budget(hub: HubContext) -> None:
    index = GeneratedFile.padded_json({"weight_map": {"a": "model-1.safetensors"}}, 300 * MIB)
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES,
                               "model.safetensors.index.json": index})  # fmt: skip
    hub.server.inject(Fault.with_headers(Content_Length="1000"), method="HEAD",
                      filename="model.safetensors.index.json")  # fmt: skip
    result = hub.kvcalc("fit", REPO, "--gpu", "h100")
    one_error_line(result, 3, "over the 67,108,864-byte limit")
    sent = sum(r.body_bytes_sent for r in hub.server.requests_for(filename="*.index.json"))
    assert sent < 100 * MIB


@pytest.mark.parametrize("fault", [Fault.gzip_bomb(), Fault.endless()], ids=["gzip", "endless"])
def test_config_body_over_budget_leaves_nothing_behind(hub: HubContext, fault: Fault) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.inject(fault, filename="config.json", method="GET")
    for _ in range(2):
        result = hub.kvcalc("estimate", REPO)
        one_error_line(result, 3, "over the 4,194,304-byte limit")
        assert not [p for p in hub.home.rglob("*") if p.is_file()]
    sent = sum(r.body_bytes_sent for r in hub.server.requests_for(filename="config.json"))
    assert sent < 2 * 64 * MIB


# --- everything echoed is escaped and cut --------------------------------------------------------


def test_config_strings_cannot_forge_lines_or_drive_the_terminal(hub: HubContext) -> None:
    hostile = "\x1b]0;owned\x07\x1b[31mred\nkvcalc: note: forged\r\u202e"
    hub.server.add_repo(
        REPO,
        {
            "config.json": json.dumps(
                {**CONFIG, "model_type": hostile, "num_hidden_layers": None}
            ).encode()
        },
    )
    result = hub.kvcalc("estimate", REPO)
    stderr = one_error_line(result, 1)
    assert not any(ch in stderr[:-1] for ch in "\x1b\x07\r\n\u202e")
    assert "kvcalc: note" not in stderr.splitlines()[0][len("kvcalc: error: ") :].split("\\n")[0]


def test_long_config_value_is_cut(hub: HubContext) -> None:
    long_type = "x" * 3_500_000
    hub.server.add_repo(
        REPO,
        {
            "config.json": json.dumps(
                {**CONFIG, "model_type": long_type, "num_hidden_layers": None}
            ).encode()
        },
    )
    stderr = one_error_line(hub.kvcalc("estimate", REPO), 1)
    assert len(stderr) < 3000
    assert "more characters)" in stderr


# --- one deadline per hub operation, with the true cause ----------------------------------------


def test_dripping_config_is_held_to_the_deadline(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.inject(Fault.drip(0.3), filename="config.json", method="GET")
    started = time.monotonic()
    result = hub.kvcalc("estimate", REPO, "--timeout", "2")
    one_error_line(result, 3, "timed out after 2 s receiving config.json")
    assert time.monotonic() - started < 2 + SLACK_SECONDS


def test_dripping_safetensors_is_held_to_the_deadline(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.add_safetensors(REPO, {"embed": ("BF16", [1024, 512])})
    hub.server.inject(Fault.drip(0.3), filename="*.safetensors", method="GET")
    started = time.monotonic()
    result = hub.kvcalc("fit", REPO, "--gpu", "h100", "--timeout", "2")
    one_error_line(result, 3, "timed out after 2 s")
    assert time.monotonic() - started < 2 * 2 + SLACK_SECONDS  # config, then the headers


def test_timeout_beyond_the_clients_own_download_timeout(hub: HubContext) -> None:
    # hub.env sets HF_HUB_DOWNLOAD_TIMEOUT=2: --timeout 6 must still wait 3 s for the body.
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    hub.server.inject(Fault.stall(3, then="serve"), filename="config.json", method="GET")
    result = hub.kvcalc("estimate", REPO, "--timeout", "6", "-q", "--seq", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1024"


def test_importing_the_client_is_not_the_hubs_time(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG_BYTES})
    result = hub.kvcalc("estimate", REPO, "--timeout", "0.5", "-q", "--seq", "1")
    assert result.returncode == 0, result.stderr


def test_refused_connection_fails_at_once(hub: HubContext) -> None:
    started = time.monotonic()
    result = hub.kvcalc("estimate", REPO, env=hub.env_with(HF_ENDPOINT=unused_local_url()))
    one_error_line(result, 3, "connection refused")
    assert time.monotonic() - started < SLACK_SECONDS


def test_unreachable_hub_preset_falls_back_at_once(hub: HubContext) -> None:
    started = time.monotonic()
    result = hub.kvcalc("estimate", "facebook/opt-30b", "-q", "--seq", "8",
                        env=hub.env_with(HF_ENDPOINT=unused_local_url()))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(connection refused); using the bundled config" in result.stderr
    assert time.monotonic() - started < AT_ONCE_SECONDS


def _resolver_answers_quickly(host: str) -> bool:
    failed: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 80)
        except OSError:
            failed.append(True)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(2)
    return bool(failed)


def test_dns_failure_is_named_and_a_preset_falls_back_at_once(hub: HubContext) -> None:
    host = "kvcalc-no-such-host.invalid"
    if not _resolver_answers_quickly(host):
        pytest.skip("this machine's resolver does not fail .invalid names within 2 s")
    env = hub.env_with(HF_ENDPOINT=f"http://{host}")
    one_error_line(hub.kvcalc("estimate", REPO, env=env), 3, f"cannot resolve the host name {host}")
    started = time.monotonic()
    fallback = hub.kvcalc("estimate", "facebook/opt-30b", "-q", "--seq", "8", env=env)
    assert fallback.returncode == 0, fallback.stderr
    assert "cannot resolve the host name" in fallback.stderr
    assert time.monotonic() - started < AT_ONCE_SECONDS


def test_compare_names_each_models_own_cause(hub: HubContext) -> None:
    hub.server.add_repo("org/overloaded", {"config.json": CONFIG_BYTES})
    hub.server.add_repo("org/gated", {"config.json": CONFIG_BYTES}, gated=True)
    hub.server.inject(Fault.server_error(503), repo_id="org/overloaded")
    result = hub.kvcalc("compare", "org/missing", "org/overloaded", "org/gated", "--timeout", "2")
    assert result.returncode == 3
    lines = {re.match(r"kvcalc: error: ([^ :]+)", line)[1]: line  # type: ignore[index]
             for line in result.stderr.splitlines()}  # fmt: skip
    assert "repository not found" in lines["org/missing"]
    assert "HTTP 503" in lines["org/overloaded"]
    assert "is gated" in lines["org/gated"]
