"""Heavy modules stay out of start-up: the core and the JSON path never import them."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT

HEAVY = ("typer", "rich", "huggingface_hub", "pydantic", "numpy", "httpx", "httpx2")


def modules_after(code: str) -> set[str]:
    script = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    return {line.split(".")[0] for line in result.stdout.splitlines()}


def test_core_imports_only_the_standard_library() -> None:
    loaded = modules_after(
        "import kvcalc, kvcalc.model.architecture, kvcalc.engines.kvbytes, kvcalc.model.dtypes, "
        "kvcalc.units, kvcalc.errors, kvcalc.model.dialects, kvcalc.planning.estimation, "
        "kvcalc.sources.resolve"
    )
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_preset_estimate_as_json_loads_neither_rich_nor_the_hub_client() -> None:
    loaded = modules_after(
        "import sys\n"
        "sys.argv = ['kvcalc', 'estimate', 'llama-3-8b', '--json']\n"
        "from kvcalc.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert "kvcalc" in loaded
    assert not loaded & {"rich", "huggingface_hub", "pydantic", "numpy", "httpx", "httpx2",
                         "typing_extensions"}  # fmt: skip


def modules_of_a_run(*args: str) -> set[str]:
    """Every module (full dotted name) loaded by one run of the command line with `args`."""
    result = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom kvcalc.cli.main import main\n"
         f"sys.argv = ['kvcalc', *{list(args)!r}]\n"
         "try:\n    main()\nexcept SystemExit:\n    pass\n"
         "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)"],
        capture_output=True, text=True, cwd=ROOT, check=True,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    return set(result.stderr.splitlines())


def test_estimate_json_from_a_config_file_loads_only_what_it_uses() -> None:
    loaded = modules_of_a_run("estimate", str(ROOT / "presets" / "facebook__opt-30b.json"),
                              "--json")  # fmt: skip
    tops = {name.split(".")[0] for name in loaded}
    assert not tops & {"rich", "pydantic", "huggingface_hub", "typing_extensions", "numpy",
                       "matplotlib", "httpx"}  # fmt: skip
    renderers = {name for name in loaded if name.startswith("kvcalc.render.")}
    assert renderers <= {"kvcalc.render.json_format", "kvcalc.render.records",
                         "kvcalc.render.formula", "kvcalc.render.safe_text"}  # fmt: skip
    # The default engine's rule is in kvcalc.engines itself: no other engine's module.
    assert (
        not {
            "kvcalc.engines.vllm",
            "kvcalc.engines.sglang",
            "kvcalc.engines.llamacpp",
            "kvcalc.engines.trtllm",
            "kvcalc.planning.fit",
            "kvcalc.planning.gpus",
        }
        & loaded
    )


def test_only_the_named_command_is_built_and_the_rest_still_answers() -> None:
    from tests.helpers import run_kvcalc

    listing = run_kvcalc("--help")
    assert listing.returncode == 0
    assert all(name in listing.stdout for name in ("estimate", "compare", "fit", "bench"))
    typo = run_kvcalc("estimat", "llama-3-8b")
    assert typo.returncode == 2 and "No such command 'estimat'" in typo.stderr
    help_text = run_kvcalc("estimate", "--help")
    assert help_text.returncode == 0 and "--engine" in help_text.stdout
    assert run_kvcalc("--version", "estimate").stdout.startswith("kvcalc ")


def test_preset_estimate_as_json_loads_only_its_engine_family_and_source() -> None:
    loaded = modules_of_a_run("estimate", "llama-3-8b", "--json")
    others = ("vllm", "sglang", "llamacpp", "trtllm", "transformers", "naive", "budget")
    engines = {f"kvcalc.engines.{name}" for name in others}
    gguf = {"kvcalc.sources.gguf", "kvcalc.sources.gguf_hub", "kvcalc.model.dialects.gguf"}
    hub = {"kvcalc.sources.hub", "kvcalc.sources.hub_http", "kvcalc.sources.hub_cache",
           "kvcalc.sources.weights", "kvcalc.sources.weights_hub"}  # fmt: skip
    # Llama is read by families.py itself: no other family's module, no quantization dialect.
    dialects = {f"kvcalc.model.dialects.{name}" for name in
                ("hybrid", "ssm", "linear", "compressed", "layers", "quantization")}  # fmt: skip
    # compare, sweep, plot, fit and gpus are registered only when a run names one of them.
    commands = {"kvcalc.cli.fit", "kvcalc.cli.plan", "kvcalc.planning.fit"}
    assert "kvcalc.render.json_format" in loaded
    assert not loaded & (engines | gguf | hub | dialects | commands), sorted(
        loaded & (engines | gguf | hub | dialects | commands)
    )


def test_no_engine_compiles_dataclasses_at_start_up() -> None:
    """Every value on an estimate's path is a `kvcalc.values` class: `dataclasses` compiles six
    methods per class at each start (README, Performance). Typer does not import it either."""
    for engine in ("default", "vllm", "sglang", "llama.cpp", "trtllm", "transformers"):
        loaded = modules_of_a_run("estimate", "deepseek-v4-flash", "--engine", engine, "--json")
        assert "dataclasses" not in loaded, engine
