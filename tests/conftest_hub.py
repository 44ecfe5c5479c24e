"""Pytest fixtures around :class:`hubserver.HubServer`.

Enable them for the whole suite by adding ``pytest_plugins = ["tests.conftest_hub"]`` to
``tests/conftest.py`` (a test module may also declare it, as ``test_hubserver.py`` does).

Fixtures:

* ``hub_server``: a started :class:`~hubserver.HubServer`, closed after the test; the test fails
  if the server hit an unexpected error while handling a request.
* ``hub``: a :class:`~hubserver.HubContext` bundling that server with an empty ``HF_HOME`` and
  the environment for subprocesses (:func:`~hubserver.hub_environment`); ``hub.kvcalc(...)``
  runs ``python -m kvcalc`` against it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hubserver import HubContext, HubServer, hub_environment

__all__ = ["HubContext", "hub", "hub_environment", "hub_server"]


@pytest.fixture
def hub_server() -> Iterator[HubServer]:
    """A started :class:`HubServer` on 127.0.0.1, closed (and checked for errors) afterwards."""
    server = HubServer().start()
    try:
        yield server
    finally:
        server.close()
    if server.errors:
        details = "\n".join(repr(error) for error in server.errors)
        pytest.fail(f"the local Hub server failed while handling requests:\n{details}")


@pytest.fixture
def hub(hub_server: HubServer, tmp_path: Path) -> HubContext:
    """:class:`HubContext` for ``hub_server`` with an empty ``HF_HOME`` under ``tmp_path``.

    Its environment comes from :func:`hub_environment`, without the outer ``KVCALC_*`` variables
    and ``FORCE_COLOR``.
    """
    home = tmp_path / "hf_home"
    home.mkdir()
    # Like tests.helpers.run_kvcalc: no KVCALC_* setting or FORCE_COLOR from the outer shell.
    outer = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("KVCALC_") and name != "FORCE_COLOR"
    }
    env = hub_environment(hub_server.url, home, base=outer)
    return HubContext(server=hub_server, home=home, env=env)
