"""Building the service images (``inv build``): what to build and how.

- :mod:`~xorb_tools.build.planning`: options to a plan (tags, arguments, base, cache), pure;
- :mod:`~xorb_tools.build.execution`: the plan through ``docker buildx``, progress, results;
- :mod:`~xorb_tools.build.builder`: which BuildKit builder can export the cache;
- :mod:`~xorb_tools.build.cache`, :mod:`~xorb_tools.build.gha`: the cache backends;
- :mod:`~xorb_tools.build.context`, :mod:`~xorb_tools.build.dockerfile`: what BuildKit reads;
- :mod:`~xorb_tools.build.progress`: the live view of a build;
- :mod:`~xorb_tools.build.release`: push, pull and clean existing images.

The two calls most callers need are re-exported here: ``build.plan(project, options)`` and
``build.run(plan)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xorb_tools.build.execution import build_environment as build_environment
    from xorb_tools.build.execution import run as run
    from xorb_tools.build.execution import write_report as write_report
    from xorb_tools.build.planning import BuildPlan as BuildPlan
    from xorb_tools.build.planning import ImageBuild as ImageBuild
    from xorb_tools.build.planning import Options as Options
    from xorb_tools.build.planning import Result as Result
    from xorb_tools.build.planning import plan as plan
    from xorb_tools.build.planning import tags_for as tags_for

_FROM = {
    "build_environment": "execution",
    "run": "execution",
    "write_report": "execution",
    "BuildPlan": "planning",
    "ImageBuild": "planning",
    "Options": "planning",
    "Result": "planning",
    "plan": "planning",
    "tags_for": "planning",
}


def __getattr__(name: str) -> Any:
    """The re-exports, imported on first use: importing a submodule (``build.release``)
    must not load python-on-whales for ``inv --list`` (start-up cost)."""
    if name not in _FROM:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_FROM[name]}"), name)
