"""Homes and advisors shared by test modules that build their state once per module."""
from __future__ import annotations

import pytest


def module_home(tmp_path_factory, request, name: str):
    """A home for one test module, seeded with the suite's prebuilt index when there is one."""
    import shutil

    home = tmp_path_factory.mktemp(name)
    try:
        shutil.copytree(request.getfixturevalue("built_index"), home / "index")
    except pytest.FixtureLookupError:
        pass  # the module builds its own index
    return home


def offline_advisor(home):
    """An offline Advisor over `home` with its index loaded (and citation cache warmed) once."""
    from agent.api import Advisor
    from agent.settings import Settings

    adv = Advisor(Settings.from_env(env={"ADVISOR_HOME": str(home)}), engine="offline")
    adv.index  # noqa: B018
    return adv
