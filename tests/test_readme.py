"""Every `kvcalc …` command in the README runs and exits as documented."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.helpers import ROOT, run_kvcalc

BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in BLOCK.findall(text):
        for line in block.splitlines():
            command = line.split(" #")[0].strip()
            if command.startswith("kvcalc "):
                commands.append(command)
    return commands


def test_readme_opens_with_the_two_set_up_commands() -> None:
    blocks = BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks[0].strip() == "pip install . && kvcalc estimate llama-3-8b"
    assert blocks[1].strip() == "pip install -e '.[test,conformance]' && python -m pytest"


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_runs(command: str) -> None:
    result = run_kvcalc(*shlex.split(command)[1:])
    assert result.returncode == 0, result.stderr
    assert result.stdout
