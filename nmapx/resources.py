"""Where nmapx's bundled files are: the ``templates`` and ``fixtures`` packages.

The design card keeps ``templates/`` and ``fixtures/`` at the top of the repository. Inside the
package they are ``nmapx/templates`` and ``nmapx/fixtures``, symbolic links to those folders,
so a source checkout and an installed wheel (where setuptools copies the files through the
links) find them the same way, through :mod:`importlib.resources` and ordinary imports: no
``sys.path`` edits and no checkout special case.
"""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path
from types import ModuleType


def bundled_dir(name: str) -> Path:
    """The directory of the bundled ``templates`` or ``fixtures``."""
    found = resources.files(f"nmapx.{name}")
    if not found.is_dir():
        raise FileNotFoundError(f"nmapx is installed without its {name}/ directory")
    return Path(str(found))


def fixture_module(name: str) -> ModuleType:
    """Import a module of the bundled fixtures (``emulators``)."""
    return importlib.import_module(f"nmapx.fixtures.{name}")
