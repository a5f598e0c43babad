"""Loading probe scripts: Python modules with NSE's anatomy.

A script is a Python module with ``categories``, an ``action`` and at least one of
``prerule()``, ``hostrule(host)``, ``portrule(host, port)``, ``postrule()``; optional
``description`` (else the module docstring), ``author``, ``license``, ``dependencies`` and
``single_connection``. Its id is its file name without ``.py``, with ``_`` written as ``-``
(``auth_owners.py`` → ``auth-owners``; a file named ``auth-owners.py`` gives the same id), or
the module's ``id`` attribute when it sets one (entry points).

Scripts come from three places: the built-in set (:mod:`nmapx.scripts`), installed packages
that declare entry points in the group ``nmapx.scripts``, and files or directories named on
the command line (:func:`load_path`). Loading errors use NSE's messages.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import importlib.util
import inspect
import logging
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

from nmapx.engine.selection import ScriptInfo
from nmapx.errors import ScriptLoadError, SelectionError

log = logging.getLogger(__name__)

RULES = ("prerule", "hostrule", "portrule", "postrule")
ENTRY_POINT_GROUP = "nmapx.scripts"
BUILTIN_DIR = Path(str(resources.files("nmapx.scripts")))


@dataclass(frozen=True)
class ScriptDoc:
    """NSEDoc-like fields from the module docstring: ``@usage``, ``@args``, ``@output``."""

    usage: tuple[str, ...] = ()
    args: tuple[tuple[str, str], ...] = ()
    output: str = ""


@dataclass
class Script:
    """One loaded probe script."""

    id: str
    path: str
    module: ModuleType
    description: str
    categories: tuple[str, ...]
    action: Callable[..., Any]
    rules: dict[str, Callable[..., Any]]
    dependencies: tuple[str, ...] = ()
    author: str = ""
    license: str = ""
    #: The service this script probes accepts one connection at a time: the engine never
    #: lets two script threads work on such a port of a host at once.
    single_connection: bool = False
    doc: ScriptDoc = field(default_factory=ScriptDoc)

    @property
    def info(self) -> ScriptInfo:
        return ScriptInfo(self.id, self.categories, self.path)


_TAG = re.compile(r"^@(usage|args|output)\b[ \t]*(.*)$")


def parse_doc(text: str) -> tuple[str, ScriptDoc]:
    """Split a docstring into its description and the NSEDoc-like tags after it."""
    description: list[str] = []
    usage: list[str] = []
    args: list[tuple[str, str]] = []
    output: list[str] = []
    current: str | None = None
    for line in text.splitlines():
        match = _TAG.match(line.strip())
        if match:
            current = match[1]
            rest = match[2]
            if current == "usage":
                usage.append(rest)
            elif current == "args":
                name, _, desc = rest.partition(" ")
                args.append((name, desc.strip()))
            elif rest:
                output.append(rest)
            continue
        if current is None:
            description.append(line)
        elif current == "usage" and line.strip():
            usage[-1] = (usage[-1] + " " + line.strip()).strip()
        elif current == "args" and line.strip() and args:
            name, desc = args[-1]
            args[-1] = (name, (desc + " " + line.strip()).strip())
        elif current == "output":
            output.append(line[4:] if line.startswith("    ") else line)
    doc = ScriptDoc(tuple(usage), tuple(args), "\n".join(output).strip("\n"))
    return "\n".join(description).strip() + "\n", doc


def script_id_for(path: Path) -> str:
    return path.stem.replace("_", "-")


def from_module(module: ModuleType, path: str, default_id: str) -> Script:
    """Check a module's NSE anatomy and wrap it as a :class:`Script`."""
    script_id = getattr(module, "id", None) or default_id
    categories = getattr(module, "categories", [])
    if isinstance(categories, str) or not isinstance(categories, list | tuple):
        raise ScriptLoadError(
            f"{path} field 'categories' is of improper type '{type(categories).__name__}'"
        )
    if not all(isinstance(c, str) for c in categories):
        raise ScriptLoadError(f"{path} has a non-string entry in 'categories'")
    action = getattr(module, "action", None)
    if not callable(action):
        raise ScriptLoadError(f"{path} is missing required field: 'action'")
    rules = {}
    for name in RULES:
        rule = getattr(module, name, None)
        if rule is None:
            continue
        if not callable(rule):
            raise ScriptLoadError(f"{path} '{name}' must be a function")
        rules[name] = rule
    if not rules:
        raise ScriptLoadError(f"{path} is missing required function: 'rule'")
    docstring = inspect.getdoc(module) or ""
    description, doc = parse_doc(docstring)
    description = getattr(module, "description", None) or description
    dependencies = getattr(module, "dependencies", ())
    return Script(
        id=script_id,
        path=path,
        module=module,
        description=description,
        categories=tuple(c.lower() for c in categories),
        action=action,
        rules=rules,
        dependencies=tuple(dependencies),
        author=getattr(module, "author", "") or "",
        license=getattr(module, "license", "") or "",
        single_connection=bool(getattr(module, "single_connection", False)),
        doc=doc,
    )


def _set_global(module: ModuleType, name: str, value: object) -> None:
    """Give a script's module one of NSE's globals (``SCRIPT_PATH``, ``SCRIPT_NAME``).

    A plain attribute assignment, through ``setattr`` because typeshed's ModuleType declares
    no attributes beyond its own to assign.
    """
    setattr(module, name, value)


def load_file(path: Path) -> Script:
    """Execute a script file in a fresh module and check it."""
    script_id = script_id_for(path)
    module_name = "nmapx_script_" + re.sub(r"\W", "_", script_id)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ScriptLoadError(f"{path}: not a Python script")
    module = importlib.util.module_from_spec(spec)
    _set_global(module, "SCRIPT_PATH", str(path))
    _set_global(module, "SCRIPT_NAME", script_id)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise ScriptLoadError(f"{path}: failed to load: {type(exc).__name__}: {exc}") from exc
    log.debug("NSE: Loaded '%s'.", path)
    return from_module(module, str(path), script_id)


def _builtin_paths() -> list[Path]:
    return [p for p in sorted(BUILTIN_DIR.glob("*.py")) if not p.name.startswith("_")]


def load_builtin(path: Path) -> Script:
    """Import one built-in script (a module of :mod:`nmapx.scripts`) and check it."""
    module = importlib.import_module(f"nmapx.scripts.{path.stem}")
    _set_global(module, "SCRIPT_PATH", str(path))
    script = from_module(module, str(path), script_id_for(path))
    _set_global(module, "SCRIPT_NAME", script.id)  # http-robots.txt's, not its file's
    return script


def builtin_scripts() -> list[Script]:
    """The scripts shipped in :mod:`nmapx.scripts`, sorted by file name (like script.db)."""
    return [load_builtin(path) for path in _builtin_paths()]


def static_info(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A script's id and categories read from its source, without running it; None when the
    source does not say them plainly (a computed value), and the script must be loaded to know.
    The id is the file's (``_`` written ``-``) unless the source assigns ``id`` a string
    literal, as a script whose Nmap id holds a dot must (``http-robots.txt``).

    Why: Nmap selects scripts from ``script.db`` and loads only the chosen ones. Importing every
    built-in to learn its categories would make every run pay for every protocol library
    (``cryptography`` for ssl-cert and ssh-hostkey) whatever it runs.
    """
    try:
        tree = ast.parse(path.read_bytes(), str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    script_id = script_id_for(path)
    categories: tuple[str, ...] | None = None
    for node in tree.body:
        value: ast.expr | None
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            value = node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names, value = [node.target.id], node.value
        else:
            continue
        if value is None:
            if "id" in names or "categories" in names:
                return None
            continue
        if "id" in names:
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                return None
            script_id = value.value
        if "categories" not in names:
            continue
        try:
            found = ast.literal_eval(value)
        except ValueError:
            return None
        if not isinstance(found, list | tuple) or not all(isinstance(c, str) for c in found):
            return None
        categories = tuple(c.lower() for c in found)
    return None if categories is None else (script_id, categories)


def static_categories(path: Path) -> tuple[str, ...] | None:
    """:func:`static_info`'s categories, for a script whose id is its file's: None when the
    source does not state them plainly or gives the script an id of its own."""
    info = static_info(path)
    if info is None or info[0] != script_id_for(path):
        return None
    return info[1]


@dataclass(frozen=True)
class Available:
    """A script ``--script`` can select: what selection needs, and how to load the script."""

    info: ScriptInfo
    load: Callable[[], Script]


def _already(script: Script) -> Callable[[], Script]:
    return lambda: script


def available() -> list[Available]:
    """:func:`catalogue` without loading what selection can do without: built-ins whose
    categories their source states plainly are loaded only when chosen. Entry points, and
    built-ins that compute their categories, are loaded here, as :func:`catalogue` does."""
    found: dict[str, Available] = {}
    for path in _builtin_paths():
        static = static_info(path)
        if static is None:
            script = load_builtin(path)
            found.setdefault(script.id, Available(script.info, _already(script)))
            continue
        info = ScriptInfo(static[0], static[1], str(path))
        found.setdefault(info.id, Available(info, functools.partial(load_builtin, path)))
    for script in entry_point_scripts():
        found.setdefault(script.id, Available(script.info, _already(script)))
    return list(found.values())


def entry_point_scripts() -> list[Script]:
    """Scripts that installed packages declare in the ``nmapx.scripts`` entry-point group."""
    scripts = []
    for entry in sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name
    ):
        try:
            module = entry.load()
        except Exception as exc:
            raise ScriptLoadError(f"entry point {entry.name} ({entry.value}): {exc}") from exc
        if not isinstance(module, ModuleType):
            raise ScriptLoadError(f"entry point {entry.name} must name a module, not {entry.value}")
        path = getattr(module, "__file__", None) or entry.value
        _set_global(module, "SCRIPT_NAME", getattr(module, "id", None) or entry.name)
        scripts.append(from_module(module, str(path), entry.name))
    return scripts


def catalogue() -> list[Script]:
    """Every script that ``--script`` names and categories can select."""
    found: dict[str, Script] = {}
    for script in [*builtin_scripts(), *entry_point_scripts()]:
        found.setdefault(script.id, script)
    return list(found.values())


def load_path(rule: str) -> list[Script] | None:
    """A ``--script`` rule that matched no id or category, tried as a file or directory."""
    for candidate in (rule, rule + ".py"):
        path = Path(candidate)
        if path.is_file():
            return [load_file(path)]
        if path.is_dir():
            if not candidate.endswith("/"):
                raise SelectionError(
                    f"directory '{candidate}' found, but will not match without '/'"
                )
            return [load_file(p) for p in sorted(path.glob("*.py")) if not p.name.startswith("_")]
    return None


def by_id(scripts: Iterable[Script]) -> dict[str, Script]:
    return {script.id: script for script in scripts}
