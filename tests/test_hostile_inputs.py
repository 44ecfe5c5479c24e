"""README "What kvcalc guarantees", the input promises: hostile configs, option values, paths,
streams and signals are refused fast, in bounded memory, in one line, never with a traceback.

Process-level properties (exit code, what reaches stdout and stderr, peak RSS, wall time) run
kvcalc in a subprocess; the rest run its real entry point in-process, which is faster.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcalc.errors import ConfigError, KvcalcError
from kvcalc.model.dialects import read_architecture
from kvcalc.model.dialects.fields import MAX_COUNT
from kvcalc.planning.estimation import estimate
from tests.helpers import EMPTY_HF_HOME, FIXTURE_CONFIGS, ROOT, PeakRss

DEADLINE_SECONDS = 20.0  # any input, on the 2-core development machine under load
MAX_RSS_BYTES = 500 * 1024**2
EXIT_CODES = {0, 1, 2, 3, 4}


# --- running kvcalc ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str
    rss_bytes: int = 0
    seconds: float = 0.0


def kvcalc_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "KVCALC_"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=EMPTY_HF_HOME, PYTHONPATH=str(ROOT), **extra)
    env.pop("FORCE_COLOR", None)
    return env


def run_process(
    *args: str, env: dict[str, str] | None = None, stdout: int | None = None,
    closed_stdout: bool = False,
) -> Run:  # fmt: skip
    """`python -m kvcalc ARGS`, killed at the deadline; its peak RSS sampled (PeakRss)."""
    command = [sys.executable, "-m", "kvcalc", *args]
    if closed_stdout:  # as `kvcalc … >&-` in a shell
        command = ["sh", "-c", 'exec "$0" "$@" >&-', *command]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL,
            stdout=out if stdout is None else stdout, stderr=err, env=env or kvcalc_env(),
            cwd=ROOT,
        )  # fmt: skip
        timer = threading.Timer(DEADLINE_SECONDS, process.kill)
        timer.start()
        sampler = PeakRss(process.pid)
        sampler.start()
        try:
            _, status, _ = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
            peak = sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        stdout_text, stderr_text = (f.read().decode(errors="replace") for f in (out, err))
    assert peak > 0, "the memory sampler never saw the process run"
    return Run(process.returncode, stdout_text, stderr_text, peak, seconds)


def run_main(*args: str) -> Run:
    """kvcalc's real entry point in-process: exit code, stdout, stderr."""
    from kvcalc.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["kvcalc", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return Run(code, out.getvalue(), err.getvalue())


def assert_clean(run: Run, *, partial: bool = False) -> None:
    """The contract every run keeps: a documented exit code, no traceback, and on failure
    nothing on stdout and exactly one `kvcalc: error:` line (notes may precede it). With
    `partial` (compare or sweep over several models), the models that could be estimated
    still print, as the README says."""
    assert "Traceback" not in run.stderr, run.stderr
    assert run.code in EXIT_CODES, (run.code, run.stderr)
    assert run.seconds < DEADLINE_SECONDS
    assert run.rss_bytes < MAX_RSS_BYTES
    if run.code in (1, 2, 3):
        assert partial or run.stdout == ""
        errors = [line for line in run.stderr.splitlines() if line.startswith("kvcalc: error: ")]
        assert len(errors) >= 1, run.stderr
        talk = [line for line in run.stderr.splitlines() if not line.startswith("kvcalc: note: ")]
        assert all(line.startswith("kvcalc: error: ") for line in talk), run.stderr


def assert_refused(run: Run, code: int, *fragments: str) -> None:
    assert_clean(run)
    assert run.code == code, run.stderr
    for fragment in fragments:
        assert fragment in run.stderr, run.stderr


@pytest.fixture(scope="module", autouse=True)
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("HF_HOME", EMPTY_HF_HOME)
        patch.delenv("KVCALC_DEBUG", raising=False)
        yield


@pytest.fixture(scope="module")
def hostile_dir() -> Iterator[Path]:
    """Paths that are not config files: a FIFO, a directory named config.json, a symlink loop,
    and configs with deep nesting, huge numbers and huge counts."""
    with tempfile.TemporaryDirectory(prefix="kvcalc-hostile-") as name:
        root = Path(name)
        os.mkfifo(root / "fifo.json")
        (root / "dir" / "config.json").mkdir(parents=True)
        (root / "loop").symlink_to(root / "loop")
        (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        (root / "digits.json").write_text('{"model_type": "llama", "num_hidden_layers": '
                                          + "9" * 5000 + "}")  # fmt: skip
        gemma = json.loads((FIXTURE_CONFIGS / "google__gemma-2-9b-it.json").read_text())
        (root / "layers.json").write_text(json.dumps({**gemma, "num_hidden_layers": 10**12}))
        yield root


# --- 1. counts in config.json ------------------------------------------------------------------

CONFIGS = sorted(p for p in FIXTURE_CONFIGS.glob("*.json"))
LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers")


def _with(raw: dict[str, object], value: object) -> dict[str, object]:
    """`raw` with its layer count (the text config's, for a wrapper) set to `value`."""
    target = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else raw
    assert isinstance(target, dict)
    for key in LAYER_KEYS:
        if key in target:
            target[key] = value
    return raw


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
@pytest.mark.parametrize("value", [10**12, 1e30, MAX_COUNT + 1, 24.5, float("inf"), float("nan")])
def test_absurd_layer_counts_are_refused_before_any_per_layer_list(
    path: Path, value: object
) -> None:
    raw = _with(json.loads(path.read_text(encoding="utf-8")), value)
    start = time.monotonic()
    with pytest.raises(KvcalcError):
        read_architecture(raw)
    assert time.monotonic() - start < 1.0


def test_the_refusal_states_the_limit() -> None:
    raw = json.loads((FIXTURE_CONFIGS / "google__gemma-2-9b-it.json").read_text())
    with pytest.raises(ConfigError, match="over the 1,048,576 kvcalc accepts"):
        read_architecture({**raw, "num_hidden_layers": 10**12})
    with pytest.raises(ConfigError, match=r"must be an integer, got 8\.5"):
        read_architecture({**raw, "num_key_value_heads": 8.5})


def test_a_huge_layer_count_in_a_process_stays_small_and_fast(hostile_dir: Path) -> None:
    run = run_process("estimate", str(hostile_dir / "layers.json"))
    assert_refused(run, 1, "num_hidden_layers is 1000000000000, over the 1,048,576")


@pytest.mark.parametrize("engine", ["default", "naive", "vllm", "transformers"])
def test_integral_floats_are_integers_for_every_engine(tmp_path: Path, engine: str) -> None:
    config = {"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 32,
              "num_key_value_heads": 8, "hidden_size": 4096, "torch_dtype": "bfloat16",
              "max_position_embeddings": 8192}  # fmt: skip
    as_floats = {key: float(value) if isinstance(value, int) else value
                 for key, value in config.items()}  # fmt: skip
    (tmp_path / "ints.json").write_text(json.dumps(config))
    (tmp_path / "floats.json").write_text(json.dumps(as_floats))
    ints = estimate(str(tmp_path / "ints.json"), seq=1000, engine=engine)
    floats = estimate(str(tmp_path / "floats.json"), seq=1000, engine=engine)
    assert floats.total_bytes == ints.total_bytes
    if engine == "naive":  # 1000 tokens x 2 x 2 layers x 8 KV heads x 128 dims x 2 bytes
        assert floats.total_bytes == 1000 * 2 * 2 * 8 * 128 * 2


# --- 2. config files and model references ------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("", "the model argument is empty"),
        ("   ", "the model argument is empty"),
        ("/dev/zero", "/dev/zero is a character device, not a config.json file"),
        ("{dir}/fifo.json", "is a named pipe (FIFO)"),
        ("{dir}/dir", "config.json is a directory"),
        ("{dir}/loop", "Too many levels of symbolic links"),
        ("{dir}/deep.json", "nested too deeply"),
        ("{dir}/digits.json", "a number too long"),
    ],
)
def test_references_get_their_true_cause(hostile_dir: Path, reference: str, message: str) -> None:
    run = run_main("estimate", reference.format(dir=hostile_dir))
    assert_refused(run, 1, message)


def test_an_empty_argument_never_reads_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    run = run_process("estimate", "", env={**kvcalc_env(), "PWD": str(tmp_path)})
    assert_refused(run, 1, "the model argument is empty")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("HF_HUB_DOWNLOAD_TIMEOUT", "abc"), ("HF_HUB_ETAG_TIMEOUT", "1e9"),
     ("HF_ENDPOINT", "http://[::1"), ("HF_ENDPOINT", "ftp://example.org")],
)  # fmt: skip
def test_bad_hub_settings_are_one_line(variable: str, value: str) -> None:
    run = run_process("estimate", "org/name", env=kvcalc_env(**{variable: value}))
    assert_refused(run, 1, variable)


# --- 3. option values --------------------------------------------------------------------------

HUGE = "9" * 5000


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--batch", "²"], 1, "--batch must be a positive integer"),
        (["--batch", HUGE], 1, "--batch must be a positive integer"),
        (["--seq", HUGE], 1, "is not a token count"),
        (["--seq", "9" * 19], 1, "is over 1,099,511,627,776"),
        (["--batch", str(2**41)], 1, "is over 1,099,511,627,776"),
        (["--enc-seq", "٣"], 1, "is not a token count"),
        (["--timeout", "nan"], 2, "--timeout"),
        (["--timeout", "inf"], 2, "--timeout"),
        (["--timeout", "1e308"], 2, "--timeout"),
        (["--zzz"], 2, "No such option: --zzz (see kvcalc estimate --help)"),
        (["--draft", "llama-3.2-1b", "--format", "csv"], 2, "--format csv does not apply"),
        (["--draft", "llama-3.2-1b", "--units", "gib"], 2, "--units does not apply"),
        (["--draft", "llama-3.2-1b", "--explain"], 2, "--explain does not apply"),
        (["--draft", "llama-3.2-1b", "--spec-tokens", "100000"], 1, "at most 1,024"),
    ],
)
def test_bad_option_values_are_one_line(args: list[str], code: int, message: str) -> None:
    assert_refused(run_main("estimate", "llama-3-8b", *args), code, message)


def test_usage_errors_are_one_line() -> None:
    for args in (["estimate"], ["compare", "--nope"], ["sweep"], ["nonsense"]):
        run = run_main(*args)
        assert_refused(run, 2)
        assert run.stderr.count("\n") == 1


def test_draft_takes_format_json() -> None:
    run = run_main("estimate", "llama-3-8b", "--draft", "llama-3.2-1b", "--format", "json")
    assert run.code == 0
    assert json.loads(run.stdout)["spec_tokens"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["compare", "llama-3-8b", "--seq", "1..1000000:1"], "has 1,000,000 values; at most"),
        (["compare", "llama-3-8b", "--seq", "1..100:1"], "at most 16 lengths, got 100"),
        (["compare", "llama-3-8b", "--seq", "1..60000:1", "--json"], "over the 50,000"),
        (["sweep", "llama-3-8b", "--seq", "1..5000:1", "-f", "table"], "use --format csv"),
        (["sweep", "llama-3-8b", "--seq", "1..50000:1", "--batch", "1..100:1"], "over 1,000,000"),
    ],
)
def test_grids_are_bounded_before_any_estimate(args: list[str], message: str) -> None:
    start = time.monotonic()
    assert_refused(run_main(*args), 1, message)
    assert time.monotonic() - start < 2.0


# --- 4. streams and signals --------------------------------------------------------------------

COMMANDS = [["estimate", "llama-3-8b"], ["estimate", "llama-3-8b", "-q"], ["compare", "llama-3-8b"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_closed_stdout_exits_141(args: list[str]) -> None:
    run = run_process(*args, closed_stdout=True)
    assert "Traceback" not in run.stderr
    assert run.code == 141, run.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", COMMANDS[:2], ids=" ".join)
def test_a_full_disk_is_one_line(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        run = run_process(*args, stdout=full.fileno())
    assert_refused(run, 1, "cannot write the output: No space left on device")


def test_any_output_encoding() -> None:
    for args in (["estimate", "llama-3-8b"], ["compare", "llama-3-8b", "--seq", "8k"]):
        run = run_process(*args, env=kvcalc_env(PYTHONIOENCODING="ascii"))
        assert run.code == 0 and "Traceback" not in run.stderr, run.stderr
        assert "1,073,741,824" in run.stdout or "GiB" in run.stdout


@pytest.mark.parametrize(("columns", "shown"), [("0", "1,073,741,824 B"), ("20", "16.00 GiB")])
def test_any_terminal_width_keeps_the_figures(columns: str, shown: str) -> None:
    args = ["estimate", "llama-3-8b"] if columns == "0" else ["compare", "llama-3-8b"]
    run = run_process(*args, env=kvcalc_env(COLUMNS=columns))
    assert run.code == 0 and shown in run.stdout, run.stdout


# Python's own start-up (site hooks) is out of kvcalc's reach: the bootstrap signals once the
# command line has begun loading (kvcalc.cli), then runs it as `python -m kvcalc` would.
BOOT = ("import os, runpy, sys, kvcalc.cli; os.write(2, b'@'); sys.argv = ['kvcalc', 'compare']; "
        "runpy.run_module('kvcalc', run_name='__main__', alter_sys=True)")  # fmt: skip


def test_ctrl_c_in_the_first_tenth_of_a_second_exits_130() -> None:
    for delay in [0.0, 0.01, *(random.uniform(0, 0.1) for _ in range(3))]:
        process = subprocess.Popen(
            [sys.executable, "-c", BOOT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=kvcalc_env(), cwd=ROOT,
        )  # fmt: skip
        assert process.stderr is not None and process.stderr.read(1) == b"@"
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=DEADLINE_SECONDS)
        assert "Traceback" not in err.decode(), err.decode()
        # Exit 0 only if the run finished before the signal arrived.
        assert process.returncode in (130, 0), (delay, err.decode())
        if process.returncode == 130:
            assert err.decode().strip().endswith("kvcalc: interrupted")


# --- 5. the whole option surface ---------------------------------------------------------------

numbers = st.sampled_from(["1", "8k", "0", "-1", "1.5", "²", "٣", "nan", "inf", "1e309", "max",
                           "1..8", "8..1", "1..0:0", "1k..128k", "1..100000:1", HUGE[:30],
                           "9" * 25, "", " ", ",", "1,,2", "1_000", "0x10", "1m"])  # fmt: skip
names = st.sampled_from(["bf16", "fp8", "auto", "int4", "q4_0", "fp7", "", ",", "AUTO"])
models = st.sampled_from(["llama-3-8b", "deepseek-v3", "gemma-3-27b", "gpt-oss-120b",
                          "qwen3-next-80b-a3b", "", "./missing.json", "/dev/null", "no-such-model",
                          "..", "-", "x" * 300])  # fmt: skip
engines = st.sampled_from(["default", "vllm", "naive", "llama.cpp", "sglang", "transformers",
                           "nope", ""])  # fmt: skip


@st.composite
def command_lines(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from(["estimate", "compare", "sweep", "inspect", "fit"]))
    args = [command, draw(models)]
    if command == "compare" and draw(st.booleans()):
        args.append(draw(models))
    if command == "fit":
        args += draw(st.sampled_from([["--gpu", "h100"], ["--gpu-memory", draw(numbers)],
                                      ["--gpu", "nope"]]))  # fmt: skip
        option = draw(st.sampled_from(["", "--gpus", "--tp", "--util", "--params"]))
        args += [option, draw(numbers)] if option else []
    if command != "inspect":
        for option, values in (("--seq", numbers), ("--batch", numbers), ("--dtype", names),
                               ("--engine", engines)):  # fmt: skip
            if draw(st.booleans()):
                args += [option, draw(values)]
    extra = [[], ["--json"], ["-q"], ["--format", "csv"], ["--format", "table"],
             ["--timeout", draw(numbers)], ["--block-size", draw(numbers)],
             ["--enc-seq", draw(numbers)], ["--units", "gb"], ["--explain"]]  # fmt: skip
    args += draw(st.sampled_from(extra))
    return args


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_no_option_value_gives_a_traceback_in_process(args: list[str]) -> None:
    start = time.monotonic()
    run = run_main(*args)
    assert_clean(Run(run.code, run.stdout, run.stderr, 0, time.monotonic() - start),
                 partial=several_models(args))  # fmt: skip


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_no_option_value_escapes_the_process_contract(args: list[str]) -> None:
    assert_clean(run_process(*args), partial=several_models(args))


def several_models(args: list[str]) -> bool:
    """`compare`/`sweep` naming two models or more (every word before the first option)."""
    models = list(itertools.takewhile(lambda arg: not arg.startswith("-"), args[1:]))
    return args[0] in ("compare", "sweep") and len(models) > 1
