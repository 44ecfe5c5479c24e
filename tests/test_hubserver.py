"""Self-check of the local Hub server against the real ``huggingface_hub`` client.

The client runs in a subprocess (``huggingface_hub`` reads ``HF_ENDPOINT`` and its timeouts when
it is imported) that makes one or more calls and prints each result, or the exception with its
``__cause__`` chain, as JSON. These tests also pin down how ``huggingface_hub`` reacts to each
fault, so a client upgrade that changes it fails here first.

Some checks compress time in the client process, and say so: ``fast_sleep`` replaces
``time.sleep`` by a recorder (the retry schedule is asserted instead of waited for), and
``retry_timeout`` lowers ``huggingface_hub.file_download._ETAG_RETRY_TIMEOUT`` (60 s) so that a
server that never answers can be observed to the end.
"""

from __future__ import annotations

import itertools
import json
import socket
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hubserver import (
    Fault,
    GeneratedFile,
    HubContext,
    HubServer,
    RecordedRequest,
    build_safetensors,
    hub_environment,
    safetensors_header,
    unused_local_url,
)

pytest_plugins = ["tests.conftest_hub"]

CONFIG = b'{"model_type": "llama", "num_hidden_layers": 2}'
REPO = "org/model"

# The client side: huggingface_hub calls described by the JSON list in argv[1].
CLIENT = r"""
import dataclasses, json, sys, time

options = json.loads(sys.argv[1])
sleeps = []
if options.get("fast_sleep"):
    time.sleep = sleeps.append

import huggingface_hub
from huggingface_hub import file_download

if options.get("retry_timeout") is not None:
    file_download._ETAG_RETRY_TIMEOUT = options["retry_timeout"]


def run(call, repo_id, filename=None, kwargs=None):
    kwargs = kwargs or {}
    if call == "download":
        result = huggingface_hub.hf_hub_download(repo_id, filename, **kwargs)
        if not isinstance(result, str):
            return dataclasses.asdict(result)
        with open(result, "rb") as handle:
            data = handle.read()
        return {"path": result, "size": len(data), "head": data[:200].decode("latin-1")}
    if call == "metadata":
        url = huggingface_hub.hf_hub_url(repo_id, filename, **kwargs)
        meta = huggingface_hub.get_hf_file_metadata(url)
        return {"size": meta.size, "etag": meta.etag, "commit_hash": meta.commit_hash}
    if call in ("safetensors", "sharded_safetensors"):
        if call == "safetensors":
            meta = huggingface_hub.get_safetensors_metadata(repo_id, **kwargs)
        else:
            meta = huggingface_hub.HfApi().get_sharded_safetensors_metadata(repo_id, **kwargs)
        return {
            "sharded": meta.sharded,
            "parameter_count": meta.parameter_count,
            "weight_map": meta.weight_map,
            "metadata": meta.metadata,
            "files": {
                name: {
                    tensor: [info.dtype, info.shape, list(info.data_offsets)]
                    for tensor, info in file_meta.tensors.items()
                }
                for name, file_meta in meta.files_metadata.items()
            },
        }
    if call == "model_info":
        info = huggingface_hub.HfApi().model_info(repo_id, **kwargs)
        return {
            "sha": info.sha,
            "siblings": [[s.rfilename, s.size] for s in info.siblings],
            "safetensors": info.safetensors.parameters if info.safetensors else None,
        }
    if call == "list_files":
        return huggingface_hub.HfApi().list_repo_files(repo_id, **kwargs)
    raise ValueError(call)


results = []
for spec in options["calls"]:
    del sleeps[:]
    started = time.monotonic()
    try:
        out = {"ok": True, "value": run(**spec)}
    except Exception as error:
        chain, statuses, current = [], [], error
        while current is not None:
            chain.append(f"{type(current).__module__}.{type(current).__qualname__}")
            statuses.append(getattr(getattr(current, "response", None), "status_code", None))
            current = current.__cause__
        out = {"ok": False, "chain": chain, "statuses": statuses, "message": str(error)}
    out["elapsed"] = time.monotonic() - started
    out["sleeps"] = list(sleeps)
    results.append(out)
print(json.dumps(results))
"""

LOCAL_ENTRY = "huggingface_hub.errors.LocalEntryNotFoundError"
HUB_HTTP = "huggingface_hub.errors.HfHubHTTPError"
HTTP_STATUS = "httpx2.HTTPStatusError"
BACKOFF = [1, 2, 4, 8, 8]


def dl(filename: str = "config.json", repo_id: str = REPO, **kwargs: Any) -> dict[str, Any]:
    """An ``hf_hub_download`` call for :func:`client`."""
    return {"call": "download", "repo_id": repo_id, "filename": filename, "kwargs": kwargs}


def client(
    hub: HubContext,
    *calls: dict[str, Any],
    env: dict[str, str] | None = None,
    fast_sleep: bool = False,
    retry_timeout: float | None = None,
) -> list[dict[str, Any]]:
    """Run ``calls`` in one client process; return one result per call."""
    options = {"calls": list(calls), "fast_sleep": fast_sleep, "retry_timeout": retry_timeout}
    completed = hub.run([sys.executable, "-c", CLIENT, json.dumps(options)], env=env, timeout=60)
    assert completed.returncode == 0, completed.stderr
    results: list[dict[str, Any]] = json.loads(completed.stdout.strip().splitlines()[-1])
    return results


def trace(requests: list[RecordedRequest]) -> list[tuple[str, int | None]]:
    return [(r.method, r.status) for r in requests]


# ---------------------------------------------------------------------------------------------
# Normal operation
# ---------------------------------------------------------------------------------------------


def test_download_then_offline_from_cache(hub: HubContext) -> None:
    sha = hub.server.add_repo(REPO, {"config.json": CONFIG})

    [online] = client(hub, dl())
    assert online["ok"], online
    path = Path(online["value"]["path"])
    assert path == hub.cache_dir / "models--org--model" / "snapshots" / sha / "config.json"
    assert path.read_bytes() == CONFIG
    assert trace(hub.server.requests) == [("HEAD", 200), ("GET", 200)]
    head = hub.server.requests[0]
    assert head.authorization is None
    assert head.headers["accept-encoding"] == "identity"

    hub.server.clear_requests()
    [offline] = client(hub, dl(), env=hub.env_with(HF_HUB_OFFLINE="1"))
    assert offline["ok"], offline
    assert offline["value"]["path"] == str(path)
    assert hub.server.requests == []


def test_revision_by_branch_and_by_commit(hub: HubContext) -> None:
    main_sha = hub.server.add_repo(REPO, {"config.json": CONFIG})
    pr_sha = hub.server.add_repo(REPO, {"config.json": b"{}"}, revision="refs/pr/1")

    by_branch, by_sha = client(hub, dl(revision="refs/pr/1"), dl(revision=main_sha))

    assert f"/snapshots/{pr_sha}/" in by_branch["value"]["path"]
    assert by_sha["value"]["head"] == CONFIG.decode()
    assert hub.server.requests[0].revision == "refs/pr/1"
    assert hub.server.requests[0].target == f"/{REPO}/resolve/refs%2Fpr%2F1/config.json"


def test_token_is_sent_and_private_repo_looks_missing(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG}, private=True, tokens=["hf_good"])

    anonymous, wrong = client(hub, dl(), dl(token="hf_wrong"))
    assert anonymous["chain"] == ["huggingface_hub.errors.RepositoryNotFoundError", HTTP_STATUS]
    assert anonymous["statuses"][0] == 401
    assert wrong["chain"] == ["huggingface_hub.errors.RepositoryNotFoundError", HTTP_STATUS]
    assert wrong["statuses"][0] == 404

    hub.server.clear_requests()
    [granted] = client(hub, dl(), env=hub.env_with(HF_TOKEN="hf_good"))
    assert granted["ok"], granted
    assert [r.authorization for r in hub.server.requests] == ["Bearer hf_good"] * 2


def test_gated_repo(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG}, gated=True, tokens=["hf_granted"])

    anonymous, other, granted = client(hub, dl(), dl(token="hf_other"), dl(token="hf_granted"))

    assert anonymous["chain"] == ["huggingface_hub.errors.GatedRepoError", HTTP_STATUS]
    assert anonymous["statuses"][0] == 401
    assert other["chain"] == ["huggingface_hub.errors.GatedRepoError", HTTP_STATUS]
    assert other["statuses"][0] == 403
    assert granted["ok"], granted


def test_unknown_repo_revision_and_file(hub: HubContext) -> None:
    sha = hub.server.add_repo(REPO, {"config.json": CONFIG})

    repo, revision, entry = client(
        hub, dl(repo_id="org/missing"), dl(revision="v9"), dl("tokenizer.json")
    )

    assert repo["chain"] == ["huggingface_hub.errors.RepositoryNotFoundError", HTTP_STATUS]
    assert revision["chain"] == ["huggingface_hub.errors.RevisionNotFoundError", HTTP_STATUS]
    assert entry["chain"] == ["huggingface_hub.errors.RemoteEntryNotFoundError", HTTP_STATUS]
    # The client remembers that the file does not exist at that commit.
    assert (hub.cache_dir / "models--org--model" / ".no_exist" / sha / "tokenizer.json").exists()


def test_model_info_lists_siblings(hub: HubContext) -> None:
    sha = hub.server.add_repo(REPO, {"config.json": CONFIG, "README.md": b"# hi\n"})
    layout = hub.server.add_safetensors(REPO, {"w": ("BF16", [4, 8])})
    hub.server.add_files(REPO, {"tokenizer/vocab.json": b"{}"})
    kwargs = {"revision": "main", "files_metadata": True}

    info, files, latest = client(
        hub,
        {"call": "model_info", "repo_id": REPO, "kwargs": kwargs},
        {"call": "list_files", "repo_id": REPO},
        {"call": "model_info", "repo_id": REPO},
    )

    assert info["ok"], info
    assert info["value"]["sha"] == sha
    assert info["value"]["siblings"] == [
        ["README.md", 5],
        ["config.json", len(CONFIG)],
        ["model.safetensors", layout.files["model.safetensors"]],
        ["tokenizer/vocab.json", 2],
    ]
    assert info["value"]["safetensors"] == {"BF16": 32}
    assert files["value"] == [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.json",
    ]
    assert latest["value"]["sha"] == sha
    assert [(r.path, r.query) for r in hub.server.requests] == [
        (f"/api/models/{REPO}/revision/main", {"blobs": ["true"]}),
        (f"/api/models/{REPO}/tree/main", {"recursive": ["true"], "expand": ["false"]}),
        (f"/api/models/{REPO}", {}),
    ]


# ---------------------------------------------------------------------------------------------
# Faults: what hf_hub_download raises with a cold cache (nothing to fall back on)
# ---------------------------------------------------------------------------------------------

RETRIED = [LOCAL_ENTRY, HUB_HTTP, HTTP_STATUS]
FAULTS: dict[str, tuple[Fault, list[str], int | None, list[int]]] = {
    "403": (Fault.forbidden(), [LOCAL_ENTRY, HUB_HTTP, HTTP_STATUS], 403, []),
    "401-invalid-token": (Fault.invalid_token(), [HUB_HTTP, HTTP_STATUS], 401, []),
    "500": (Fault.server_error(), RETRIED, 500, BACKOFF),
    "503": (Fault.server_error(503), RETRIED, 503, BACKOFF),
    "502-html": (Fault.html_page(502), RETRIED, 502, BACKOFF),
    "429-retry-after-3": (Fault.rate_limited(retry_after=3), RETRIED, 429, [4] * 5),
    "200-html": (
        Fault.html_page(200),
        [LOCAL_ENTRY, "huggingface_hub.errors.FileMetadataError"],
        200,
        [],
    ),
    # Whether the OS error (ConnectionResetError) shows up under it depends on timing.
    "reset": (Fault.reset(), ["httpx2.ReadError", "httpcore2.ReadError"], None, []),
    "disconnect": (
        Fault.disconnect(),
        ["httpx2.RemoteProtocolError", "httpcore2.RemoteProtocolError"],
        None,
        [],
    ),
}


@pytest.fixture(scope="module")
def fault_outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[dict[str, Any], list[RecordedRequest]]]]:
    """Each fault of FAULTS on its own repo, all downloaded by one client process."""
    with HubServer() as server:
        for name, (fault, *_) in FAULTS.items():
            server.add_repo(f"faults/{name}", {"config.json": CONFIG})
            server.inject(fault, repo_id=f"faults/{name}")
        home = tmp_path_factory.mktemp("faults")
        context = HubContext(server, home, hub_environment(server.url, home))
        results = client(
            context, *(dl(repo_id=f"faults/{name}") for name in FAULTS), fast_sleep=True
        )
        yield {
            name: (result, server.requests_for(repo_id=f"faults/{name}"))
            for name, result in zip(FAULTS, results, strict=True)
        }
    assert server.errors == []


@pytest.mark.parametrize("name", list(FAULTS))
def test_persistent_fault_on_metadata_request(
    fault_outcomes: dict[str, tuple[dict[str, Any], list[RecordedRequest]]], name: str
) -> None:
    _, chain, status, sleeps = FAULTS[name]
    result, requests = fault_outcomes[name]

    assert result["chain"][: len(chain)] == chain
    assert result["chain"][len(chain) :] in ([], ["builtins.ConnectionResetError"])
    assert [r.status for r in requests] == [status] * len(requests)
    assert result["sleeps"] == sleeps
    # One HEAD without retries, then (for retryable errors) 1 + 5 retries; never a GET.
    heads = 1 + (len(sleeps) + 1 if sleeps else 0)
    assert [r.method for r in requests] == ["HEAD"] * heads


def test_connection_refused(hub: HubContext) -> None:
    env = hub.env_with(HF_ENDPOINT=unused_local_url())
    [result] = client(hub, dl(), env=env, fast_sleep=True)
    assert result["chain"] == [LOCAL_ENTRY, "httpx2.ConnectError", "httpcore2.ConnectError"]
    assert result["sleeps"] == BACKOFF


def test_stall_persistent_times_out(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.stall(30), repo_id=REPO)
    env = hub.env_with(HF_HUB_ETAG_TIMEOUT=None)

    [result] = client(hub, dl(etag_timeout=0.2), env=env, fast_sleep=True, retry_timeout=0.2)

    assert result["chain"] == [LOCAL_ENTRY, "httpx2.ReadTimeout", "httpcore2.ReadTimeout"]
    assert result["sleeps"] == BACKOFF
    assert trace(hub.server.requests) == [("HEAD", None)] * 7


def test_transient_faults_are_retried(hub: HubContext) -> None:
    hub.server.add_repo("org/a", {"config.json": CONFIG})
    hub.server.add_repo("org/b", {"config.json": CONFIG})
    hub.server.inject(Fault.server_error(), repo_id="org/a", times=1)
    hub.server.inject(Fault.rate_limited(retry_after=0), repo_id="org/b", times=2)

    a, b = client(hub, dl(repo_id="org/a"), dl(repo_id="org/b"), fast_sleep=True)

    assert a["ok"], a
    assert a["sleeps"] == []
    assert trace(hub.server.requests_for(repo_id="org/a")) == [
        ("HEAD", 500),
        ("HEAD", 200),
        ("GET", 200),
    ]
    assert b["ok"], b
    assert b["sleeps"] == [1]
    assert trace(hub.server.requests_for(repo_id="org/b")) == [
        ("HEAD", 429),
        ("HEAD", 429),
        ("HEAD", 200),
        ("GET", 200),
    ]


def test_stall_once_then_recover(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.stall(5), repo_id=REPO, times=1)
    env = hub.env_with(HF_HUB_ETAG_TIMEOUT=None)

    [result] = client(hub, dl(etag_timeout=0.3), env=env)

    assert result["ok"], result
    assert result["elapsed"] < 3
    assert trace(hub.server.requests) == [("HEAD", None), ("HEAD", 200), ("GET", 200)]


def test_warm_cache_hides_metadata_errors(hub: HubContext) -> None:
    faults = {
        "org/e500": Fault.server_error(),
        "org/gated": Fault.gated(),
        "org/gone": Fault.repo_not_found(),
        "org/stall": Fault.stall(5),
    }
    for repo_id in faults:
        hub.server.add_repo(repo_id, {"config.json": CONFIG})
    env = hub.env_with(HF_HUB_ETAG_TIMEOUT=None)
    first = client(hub, *(dl(repo_id=r, etag_timeout=0.3) for r in faults), env=env)
    assert all(result["ok"] for result in first), first
    hub.server.clear_requests()
    for repo_id, fault in faults.items():
        hub.server.inject(fault, repo_id=repo_id)

    again = client(hub, *(dl(repo_id=r, etag_timeout=0.3) for r in faults), env=env)

    for repo_id, before, after in zip(faults, first, again, strict=True):
        assert after["ok"], (repo_id, after)
        assert after["value"]["path"] == before["value"]["path"]
        assert [r.method for r in hub.server.requests_for(repo_id=repo_id)] == ["HEAD"]


def test_disconnect_during_body_retries_whole_file(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.disconnect(after_bytes=10), method="GET", times=1)

    [result] = client(hub, dl(), fast_sleep=True)

    assert result["ok"], result
    assert result["value"]["head"] == CONFIG.decode()
    assert result["sleeps"] == [1]
    gets = hub.server.requests_for(method="GET")
    # The 10 bytes already received were still buffered, so no Range: the whole file again.
    assert [(r.status, r.range, r.body_bytes_sent) for r in gets] == [
        (200, None, 10),
        (200, None, len(CONFIG)),
    ]


def test_stall_during_body_is_retried_after_download_timeout(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.stall(10, after_bytes=5), method="GET", times=1)
    env = hub.env_with(HF_HUB_DOWNLOAD_TIMEOUT="1")

    [result] = client(hub, dl(), env=env, fast_sleep=True)

    assert result["ok"], result
    assert 1 <= result["elapsed"] < 3
    assert result["sleeps"] == [1]
    gets = hub.server.requests_for(method="GET")
    assert [(r.fault, r.body_bytes_sent) for r in gets] == [("stall", 5), (None, len(CONFIG))]


def test_reset_during_body_is_not_retried(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.reset(after_bytes=10), method="GET", times=1)

    [result] = client(hub, dl(), fast_sleep=True)

    assert result["chain"][:2] == ["httpx2.ReadError", "httpcore2.ReadError"]
    assert trace(hub.server.requests) == [("HEAD", 200), ("GET", 200)]


def test_html_instead_of_file_content(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.html_page(200), method="GET")
    [result] = client(hub, dl())
    assert result["chain"] == ["builtins.OSError"]
    assert "Consistency check failed" in result["message"]


def test_renamed_repo_redirect(hub: HubContext) -> None:
    hub.server.add_repo("org/new-name", {"config.json": CONFIG})
    hub.server.rename_repo("org/old-name", "org/new-name")

    [result] = client(hub, dl(repo_id="org/old-name"))

    assert result["ok"], result
    assert "models--org--old-name" in result["value"]["path"]
    assert [(r.method, r.path, r.status) for r in hub.server.requests] == [
        ("HEAD", "/org/old-name/resolve/main/config.json", 307),
        ("HEAD", "/org/new-name/resolve/main/config.json", 200),
        ("GET", "/org/new-name/resolve/main/config.json", 200),
    ]


def test_redirect_loop(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    hub.server.inject(Fault.redirect(f"/{REPO}/resolve/main/config.json", status=302))
    [result] = client(hub, dl())
    assert result["chain"] == ["httpx2.TooManyRedirects"]
    assert len(hub.server.requests) == 20


# ---------------------------------------------------------------------------------------------
# Large files
# ---------------------------------------------------------------------------------------------


def test_huge_config_size_is_known_before_download(hub: HubContext) -> None:
    size = 50_000_000
    hub.server.add_huge_file(REPO, "config.json", size)
    metadata = {"call": "metadata", "repo_id": REPO, "filename": "config.json"}

    dry, head, full = client(hub, dl(dry_run=True), metadata, dl())

    assert dry["value"]["file_size"] == size
    assert dry["value"]["will_download"] is True
    assert head["value"]["size"] == size
    assert full["value"]["size"] == size
    assert json.loads(Path(full["value"]["path"]).read_bytes())["model_type"] == "llama"
    assert trace(hub.server.requests) == [("HEAD", 200)] * 3 + [("GET", 200)]
    assert hub.server.requests[-1].body_bytes_sent == size


# ---------------------------------------------------------------------------------------------
# Safetensors metadata
# ---------------------------------------------------------------------------------------------

TENSORS = {
    "model.embed_tokens.weight": ("BF16", [128, 64]),
    "model.layers.0.self_attn.q_proj.weight": ("BF16", [64, 64]),
    "model.layers.0.mlp.down_proj.weight": ("F8_E4M3", [64, 256]),
    "model.layers.0.mlp.down_proj.weight_scale": ("F32", []),
    "lm_head.weight": ("F32", [128, 64]),
}
SAFETENSORS_CALL = {"call": "safetensors", "repo_id": REPO}


def test_safetensors_single_file(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    layout = hub.server.add_safetensors(REPO, TENSORS)

    [result] = client(hub, SAFETENSORS_CALL)

    assert result["ok"], result
    assert result["value"]["sharded"] is False
    assert result["value"]["parameter_count"] == layout.parameters
    assert layout.parameters == {"BF16": 128 * 64 + 64 * 64, "F8_E4M3": 64 * 256, "F32": 1 + 8192}
    tensors = result["value"]["files"]["model.safetensors"]
    assert tensors["lm_head.weight"][:2] == ["F32", [128, 64]]
    assert hub.server.downloads_of("*.safetensors") == []
    assert [r.range for r in hub.server.requests_for(method="GET")] == ["bytes=0-100000"]


def test_safetensors_sharded(hub: HubContext) -> None:
    hub.server.add_repo(REPO, {"config.json": CONFIG})
    layout = hub.server.add_safetensors(REPO, TENSORS, shards=2)

    result, single_request = client(
        hub, SAFETENSORS_CALL, {"call": "sharded_safetensors", "repo_id": REPO}
    )

    assert single_request["value"] == result["value"]
    assert result["ok"], result
    assert result["value"]["sharded"] is True
    assert result["value"]["metadata"] == {"total_size": layout.total_size}
    assert result["value"]["weight_map"] == layout.weight_map
    assert result["value"]["parameter_count"] == layout.parameters
    assert sorted(result["value"]["files"]) == sorted(layout.files)
    assert hub.server.downloads_of("*.safetensors") == []
    assert len(hub.server.downloads_of("model.safetensors.index.json")) == 1


def test_safetensors_header_larger_than_first_range(hub: HubContext) -> None:
    tensors = {f"model.layers.{i}.block.weight": ("BF16", [16, 16]) for i in range(2500)}
    hub.server.add_safetensors(REPO, tensors)
    header, _ = safetensors_header(tensors, {"format": "pt"})
    assert len(header) > 100_000

    [result] = client(hub, SAFETENSORS_CALL)

    assert result["ok"], result
    assert result["value"]["parameter_count"] == {"BF16": 2500 * 256}
    ranges = [r.range for r in hub.server.requests_for(method="GET")]
    assert ranges == ["bytes=0-100000", f"bytes=8-{len(header) - 1}"]


def test_lfs_files_through_cdn_redirect(tmp_path: Path) -> None:
    with HubServer(lfs_via_cdn=True) as server:
        server.add_repo(REPO, {"config.json": CONFIG}, private=True)
        layout = server.add_safetensors(REPO, TENSORS)
        env = hub_environment(server.url, tmp_path, token="hf_secret")

        weights, meta = client(
            HubContext(server, tmp_path, env), dl("model.safetensors"), SAFETENSORS_CALL
        )

    assert weights["value"]["size"] == layout.files["model.safetensors"]
    assert meta["value"]["parameter_count"] == layout.parameters
    on_hub = [r for r in server.requests if r.kind == "resolve"]
    on_cdn = [r for r in server.requests if r.kind == "cdn"]
    assert {r.status for r in on_hub} == {302}
    assert all(r.token == "hf_secret" for r in on_hub)
    assert on_cdn
    assert all(r.authorization is None for r in on_cdn)
    assert server.errors == []


# ---------------------------------------------------------------------------------------------
# The server itself
# ---------------------------------------------------------------------------------------------


def test_stall_ends_when_server_closes() -> None:
    server = HubServer().start()
    server.add_repo(REPO, {"config.json": CONFIG})
    server.inject(Fault.stall(60))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        request = f"HEAD /{REPO}/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n\r\n"
        connection.sendall(request.encode())
        deadline = time.monotonic() + 5
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1
        assert connection.recv(1024) == b""
    assert server.errors == []


def test_idle_keep_alive_connection_does_not_block_close() -> None:
    server = HubServer().start()
    server.add_repo(REPO, {"config.json": CONFIG})
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as connection:
        request = f"GET /{REPO}/resolve/main/config.json HTTP/1.1\r\nHost: x\r\n\r\n"
        connection.sendall(request.encode())
        reply = b""
        while not reply.endswith(CONFIG):
            reply += connection.recv(65536)
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert b"X-Repo-Commit: " in reply
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1
    assert server.errors == []


def test_safetensors_builder_layout() -> None:
    content = build_safetensors(TENSORS, {"format": "pt"})
    data = content.to_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0
    header = json.loads(data[8 : 8 + length])
    assert header.pop("__metadata__") == {"format": "pt"}
    offsets = [header[name]["data_offsets"] for name in TENSORS]
    assert offsets[0][0] == 0
    assert all(a[1] == b[0] for a, b in itertools.pairwise(offsets))
    assert 8 + length + offsets[-1][1] == len(data) == content.size
    assert set(data[8 + length :]) == {0}


def test_generated_file_ranges() -> None:
    content = GeneratedFile(size=20, head=b"<<", tail=b">>", fill=b"abc")
    whole = content.to_bytes()
    assert whole == b"<<abcabcabcabcabca>>"
    for start in range(21):
        for end in range(start, 21):
            assert b"".join(content.iter_range(start, end, chunk_size=4)) == whole[start:end]
    padded = GeneratedFile.padded_json({"a": 1}, 100)
    assert json.loads(padded.to_bytes())["a"] == 1
    assert len(padded.to_bytes()) == 100


def test_hostile_faults_on_the_wire() -> None:
    """The faults of tests/test_hostile_hub.py, seen with a plain HTTP client."""
    import http.client
    import zlib

    with HubServer() as server:
        server.add_repo(REPO, {"config.json": CONFIG})
        path = f"/{REPO}/resolve/main/config.json"

        def get(headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            connection.request("GET", path, headers=headers or {})
            return connection.getresponse()

        server.inject(Fault.with_headers(ETag='"../../x"'), times=1)
        assert get().getheader("ETag") == '"../../x"'
        server.inject(Fault.ignore_range(), times=1)
        whole = get({"Range": "bytes=0-3"})
        assert (whole.status, whole.read()) == (200, CONFIG)
        server.inject(Fault.gzip_bomb(4 * 1024 * 1024), times=1)
        bomb = get()
        assert bomb.getheader("Content-Encoding") == "gzip"
        assert len(zlib.decompress(bomb.read(), 31)) == 4 * 1024 * 1024
        server.inject(Fault.endless(size=1024 * 1024), times=1)
        endless = get()
        assert endless.getheader("Content-Length") is None
        assert len(endless.read()) >= 1024 * 1024
        server.inject(Fault.drip(0.2, limit=0.7), times=1)
        started = time.monotonic()
        dripped = get().read()
        assert set(dripped) == {ord(" ")} and 2 <= len(dripped) <= 4
        assert time.monotonic() - started >= 0.5
