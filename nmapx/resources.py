"""Where nmapx's bundled files are, installed or in a source checkout.

``setup.cfg`` installs the top-level ``templates/`` and ``fixtures/`` directories as the
packages ``nmapx.templates`` and ``nmapx.fixtures``, so a non-editable ``pip install .`` carries
them. In a source checkout those names do not exist (the directories sit beside ``nmapx/``), so
each lookup falls back to the checkout. Everything that needs a bundled file goes through here.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from types import ModuleType

_CHECKOUT = Path(__file__).resolve().parent.parent


def bundled_dir(name: str) -> Path:
    """The directory of the bundled ``templates`` or ``fixtures``."""
    try:
        found = resources.files(f"nmapx.{name}")
    except ModuleNotFoundError:
        found = None
    if found is not None and found.is_dir():
        return Path(str(found))
    checkout = _CHECKOUT / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"nmapx is installed without its {name}/ directory")


def fixture_module(name: str) -> ModuleType:
    """Import a module of the bundled fixtures (``emulators``), installed or from a checkout."""
    try:
        return importlib.import_module(f"nmapx.fixtures.{name}")
    except ModuleNotFoundError:
        pass
    import sys

    if str(_CHECKOUT) not in sys.path and (_CHECKOUT / "fixtures" / "__init__.py").exists():
        sys.path.append(str(_CHECKOUT))
    return importlib.import_module(f"fixtures.{name}")
