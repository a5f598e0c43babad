"""From command-line choices to a ready :class:`~nmapx.engine.runner.ScriptEngine`.

This is where ``--script`` is resolved against the catalogue (built-in scripts, entry points,
files and directories), script arguments are parsed, runlevels are computed and the scope of
allowed addresses is set up, so that unknown names or bad arguments fail like Nmap does,
before any probe is sent.
"""

from __future__ import annotations

import logging
import resource
from collections.abc import Sequence
from pathlib import Path

from nmapx.engine.jobs import ChosenScript
from nmapx.engine.loader import Script, available, load_path
from nmapx.engine.options import RunOptions
from nmapx.engine.runner import EngineOptions, ScriptEngine
from nmapx.engine.scope import Exclusions, Scope
from nmapx.engine.scriptargs import parse_script_args
from nmapx.engine.selection import ScriptInfo, runlevels, select
from nmapx.engine.thread import RunSettings
from nmapx.errors import ScriptArgsError, SelectionError, UsageError
from nmapx.model.args import parse_timespec

log = logging.getLogger(__name__)


def parse_time(text: str | None, option: str) -> float | None:
    """Nmap's time syntax (``30``, ``500ms``, ``2m``, ``1h``); 0 means no limit."""
    if text is None:
        return None
    seconds = parse_timespec(text)
    if seconds is None or seconds < 0:
        raise UsageError(f"{option}: bad time specification '{text}'")
    return seconds or None


def choose(rules: Sequence[str]) -> list[ChosenScript]:
    """Resolve ``--script`` rules to scripts with their runlevels (NSE §4.1, §1.4)."""
    scripts = available()
    loaders = {entry.info.path: entry.load for entry in scripts}
    loaded: dict[str, Script] = {}

    def from_path(rule: str) -> list[ScriptInfo] | None:
        scripts = load_path(rule)
        if scripts is None:
            return None
        for script in scripts:
            loaded[script.path] = script
        return [script.info for script in scripts]

    try:
        selected = select(list(rules), [entry.info for entry in scripts], from_path)
        for item in selected:
            if item.info.path not in loaded:
                loaded[item.info.path] = loaders[item.info.path]()
        chosen_scripts = [loaded[item.info.path] for item in selected]
        levels = runlevels(selected, {s.id: s.dependencies for s in chosen_scripts})
    except SelectionError as exc:
        raise UsageError(str(exc)) from None
    return [
        ChosenScript(
            script,
            by_name=item.by_name,
            forced=item.forced,
            runlevel=levels[script.id],
            how=item.how,
        )
        for item, script in zip(selected, chosen_scripts, strict=True)
    ]


def raise_file_limit(wanted: int) -> None:
    """Probes hold many sockets at once; lift the soft descriptor limit towards the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def read_script_args_file(path: str) -> str:
    """The text of ``--script-args-file`` (a :class:`UsageError` if it cannot be read)."""
    try:
        return Path(path).read_text("utf-8", "surrogateescape")
    except OSError as exc:
        raise UsageError(f"--script-args-file: {path}: {exc.strerror or exc}") from None


def build(
    options: RunOptions,
    chosen: Sequence[ChosenScript] | None = None,
    script_args_file_text: str | None = None,
) -> tuple[ScriptEngine, Scope]:
    """The engine and its scope for one run; raises :class:`UsageError` on bad options.

    ``chosen``: the scripts :func:`choose` resolved for ``options.scripts`` before; a cluster
    worker builds an engine per batch and resolves the selection once per process.
    ``script_args_file_text``: the ``--script-args-file`` as the coordinator read it (a
    worker on another machine has no copy of the file).
    """
    if chosen is None:
        chosen = choose(options.scripts)
    file_text = script_args_file_text
    if file_text is None and options.script_args_file:
        file_text = read_script_args_file(options.script_args_file)
    try:
        args = parse_script_args(options.script_args, file_text)
    except ScriptArgsError as exc:
        raise UsageError(f"{exc} (args = {exc.args_text})") from None
    exclude_specs = list(options.exclude)
    if options.exclude_file:
        try:
            exclude_specs.append(Path(options.exclude_file).read_text())
        except OSError as exc:
            raise UsageError(
                f"--exclude-file: {options.exclude_file}: {exc.strerror or exc}"
            ) from None
    scope = Scope(Exclusions.parse(exclude_specs))
    settings = RunSettings(
        verbosity=options.verbosity,
        debugging=options.debugging,
        script_trace=options.script_trace,
        script_args=args,
        max_parallelism=options.max_parallelism,
        no_network=options.no_network,
    )
    engine_options = EngineOptions(
        settings=settings,
        script_timeout=parse_time(options.script_timeout, "--script-timeout"),
        host_timeout=parse_time(options.host_timeout, "--host-timeout"),
        max_host_parallelism=options.max_host_parallelism,
        allowed=scope.allows,
        names=scope.address_of,
        excluded=lambda address: scope.exclusions.excludes(address, ()),
        skip_existing=options.skip_existing,
    )
    raise_file_limit(max(4096, 4 * options.max_parallelism))
    return ScriptEngine(chosen, engine_options), scope
