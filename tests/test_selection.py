"""--script rule selection and runlevels.

The unit tests use a small synthetic catalogue; every behaviour they pin was first observed
with Nmap 7.93. The live tests give ``select`` a catalogue read from Nmap's own script.db
and compare, script by script, with what ``nmap -d2 --script-help '<rules>'`` loads ("Script
X.nse was selected by name|category|file path|directory [and forced to run]"). --script-help
needs no target and sends no packets.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nmapx.engine.selection import (
    ScriptInfo,
    Selected,
    evaluate_rule,
    glob_matches,
    runlevels,
    select,
    split_rules,
)
from nmapx.errors import SelectionError

CATALOGUE = [
    ScriptInfo("address-info", ("default", "safe"), "/s/address-info.nse"),
    ScriptInfo("banner", ("discovery", "safe"), "/s/banner.nse"),
    ScriptInfo("daytime", ("discovery", "safe"), "/s/daytime.nse"),
    ScriptInfo("ftp-brute", ("brute", "intrusive"), "/s/ftp-brute.nse"),
    ScriptInfo("http-title", ("default", "discovery", "safe"), "/s/http-title.nse"),
    ScriptInfo("http-vuln-x", ("exploit", "vuln"), "/s/http-vuln-x.nse"),
    ScriptInfo("a?b", ("safe",), "/s/a?b.nse"),
    ScriptInfo("vuln", ("safe",), "/s/vuln.nse"),
]


def no_paths(rule: str) -> None:
    return None


def ids(rules: list[str], catalogue=CATALOGUE, load_path=no_paths) -> list[str]:
    return [s.info.id for s in select(rules, catalogue, load_path)]


def flags(rules: list[str], catalogue=CATALOGUE, load_path=no_paths) -> list[tuple]:
    return [(s.info.id, s.how, s.by_name, s.forced) for s in select(rules, catalogue, load_path)]


def error_of(rules: list[str], catalogue=CATALOGUE, load_path=no_paths) -> str:
    with pytest.raises(SelectionError) as info:
        select(rules, catalogue, load_path)
    return str(info.value)


# ---------------------------------------------------------------------------------------
# Splitting
# ---------------------------------------------------------------------------------------


def test_split_rules():
    assert split_rules(["a, b ,,+c", " + d ", "+", "", "e,"]) == [
        ("a", False),
        ("b", False),
        ("c", True),
        (" d", True),  # Nmap does not trim after the "+"
        ("e", False),
    ]
    assert split_rules(["\t(a or b) and c\n"]) == [("(a or b) and c", False)]


def test_no_rules_selects_nothing():
    assert select([], CATALOGUE, no_paths) == []
    assert select(["+", " , "], CATALOGUE, no_paths) == []


# ---------------------------------------------------------------------------------------
# The expression grammar
# ---------------------------------------------------------------------------------------


def test_and_binds_its_whole_right_side():
    # Not Lua precedence: "a and b or c" is "a and (b or c)" (verified, Nmap 7.93).
    assert ids(["banner and safe or http-title"]) == ["banner"]
    assert error_of(["banner and default or http-title"]) == (
        "'banner and default or http-title' did not match a category, filename, or directory"
    )
    assert ids(["(banner and default) or http-title"]) == ["http-title"]


def test_or_then_and_and_not():
    assert ids(["banner or default and http-title"]) == ["banner", "http-title"]
    assert ids(["not banner and discovery"]) == ["daytime", "http-title"]
    assert ids(["not (banner or default) and safe"]) == ["daytime", "a?b", "vuln"]
    assert ids(["not not banner"]) == ["banner"]
    assert ids(["safe and discovery and default"]) == ["http-title"]


def test_keywords_are_case_insensitive_and_need_a_delimiter():
    assert ids(["NOT(safe) AnD Brute"]) == ["ftp-brute"]
    assert ids(["(banner)or(daytime)"]) == ["banner", "daytime"]
    assert ids(["(banner)and(safe)"]) == ["banner"]
    # "notbanner", "bannerand": no delimiter, so they are globs that match nothing
    assert error_of(["notbanner"]).startswith("'notbanner' did not match")
    assert error_of(["banner and(safe)x"]).startswith("'banner and(safe)x'")


def test_literals_and_all():
    assert ids(["true"]) == [s.id for s in CATALOGUE]
    assert ids(["TRUE and banner"]) == ["banner"]
    assert ids(["all"]) == ids(["ALL"]) == [s.id for s in CATALOGUE]
    assert error_of(["false"]) == "'false' did not match a category, filename, or directory"


def test_categories_case_insensitive():
    assert ids(["DEFAULT"]) == ids(["Default"]) == ["address-info", "http-title"]


def test_category_token_is_a_glob_for_scripts_without_the_category():
    # "vuln" is a category of http-vuln-x and the id of a script that is not in it
    assert flags(["vuln"]) == [
        ("http-vuln-x", "category", False, False),
        ("vuln", "name", True, False),
    ]


def test_syntax_errors_select_nothing():
    for rule in ["default and", "and", "or", "not", "(banner", "banner)", "banner daytime"]:
        assert error_of([rule]) == f"'{rule}' did not match a category, filename, or directory"


# ---------------------------------------------------------------------------------------
# Name globs
# ---------------------------------------------------------------------------------------


def test_globs():
    assert ids(["http-*"]) == ["http-title", "http-vuln-x"]
    assert ids(["*-title"]) == ["http-title"]
    assert ids(["b*r"]) == ["banner"]
    assert ids(["banner.nse"]) == ["banner"]
    assert ids(["banner.py"]) == ["banner"]  # nmapx: .py is accepted too
    assert ids(["a?b"]) == ["a?b"]  # "?" is literal
    assert error_of(["bann?r"]).startswith("'bann?r' did not match")
    assert error_of(["Daytime"]) == "'Daytime' did not match a category, filename, or directory"
    assert error_of(["banner.NSE"]).startswith("'banner.NSE'")
    assert error_of(["anner"]).startswith("'anner'")  # whole id only


def test_glob_matches():
    assert glob_matches("http-*", "http-title")
    assert glob_matches("*", "")
    assert not glob_matches("a.c", "abc")  # "." is literal
    assert glob_matches("a+b", "a+b") and not glob_matches("a+b", "aab")
    assert glob_matches("x.nse", "x") and not glob_matches("x.nse.nse", "x")
    assert glob_matches("x.nse.py", "x.nse")  # only one suffix is removed


def test_by_name_when_any_glob_of_the_rule_matched():
    assert flags(["not banner and http-title"]) == [("http-title", "name", True, False)]
    assert flags(["banner or default"]) == [
        ("address-info", "category", False, False),
        ("banner", "name", True, False),
        ("http-title", "category", False, False),
    ]
    assert evaluate_rule("http-title and not http-title", CATALOGUE[4]) == (False, True)
    assert evaluate_rule("oops(", CATALOGUE[0]) is None


# ---------------------------------------------------------------------------------------
# Flags: the first selecting rule decides; forced belongs to the rule text
# ---------------------------------------------------------------------------------------


def test_forced():
    assert flags(["+banner"]) == [("banner", "name", True, True)]
    assert flags(["+ banner"]) == [("banner", "name", True, True)]
    assert flags(["+default"]) == [
        ("address-info", "category", False, True),
        ("http-title", "category", False, True),
    ]


def test_first_selecting_rule_decides():
    assert flags(["banner and safe", "+banner"]) == [("banner", "name", True, False)]
    assert flags(["+banner,banner and safe"]) == [("banner", "name", True, True)]
    assert flags(["discovery and not daytime and not http-title,banner"]) == [
        ("banner", "category", False, False)
    ]


def test_same_rule_text_last_plus_decides():
    assert flags(["+banner,banner"]) == [("banner", "name", True, False)]
    assert flags(["banner", "+banner"]) == [("banner", "name", True, True)]


# ---------------------------------------------------------------------------------------
# Paths, directories, duplicates
# ---------------------------------------------------------------------------------------

EXTRA = {
    "mine.nse": [ScriptInfo("mine", (), "./mine.nse")],
    "dir/": [ScriptInfo("d1", (), "dir/d1.nse"), ScriptInfo("d2", (), "dir/d2.nse")],
    "dup.nse": [ScriptInfo("banner", (), "./banner.nse")],
    "same.nse": [ScriptInfo("banner", ("discovery", "safe"), "/s/banner.nse")],
}


def fake_paths(rule: str):
    if rule == "dir":
        raise SelectionError("directory 'dir' found, but will not match without '/'")
    return EXTRA.get(rule)


def test_paths_after_catalogue_in_rule_order():
    calls: list[str] = []

    def load(rule):
        calls.append(rule)
        return fake_paths(rule)

    assert flags(["dir/", "+mine.nse", "daytime", "banner"], load_path=load) == [
        ("banner", "name", True, False),
        ("daytime", "name", True, False),
        ("d1", "directory", False, False),
        ("d2", "directory", False, False),
        ("mine", "file path", True, True),
    ]
    assert calls == ["dir/", "mine.nse"]  # only rules that matched nothing


def test_path_errors():
    assert error_of(["nothing"], load_path=fake_paths) == (
        "'nothing' did not match a category, filename, or directory"
    )
    assert error_of(["dir"], load_path=fake_paths) == (
        "directory 'dir' found, but will not match without '/'"
    )


def test_one_load_per_path_and_duplicate_ids():
    assert ids(["banner", "same.nse"], load_path=fake_paths) == ["banner"]
    assert error_of(["banner", "dup.nse"], load_path=fake_paths) == (
        "duplicate script ID: 'banner'"
    )
    twice = [ScriptInfo("x", ("safe",), "/a/x.nse"), ScriptInfo("x", ("safe",), "/b/x.nse")]
    assert error_of(["safe"], catalogue=twice) == "duplicate script ID: 'x'"
    same_path = [ScriptInfo("x", ("safe",), "/a/x.nse"), ScriptInfo("y", ("safe",), "/a/x.nse")]
    assert ids(["safe"], catalogue=same_path) == ["x"]


def test_exponential_inputs_stay_fast():
    rule = " and ".join(["safe"] * 40)
    assert ids([rule]) == ["address-info", "banner", "daytime", "http-title", "a?b", "vuln"]
    assert error_of(["(" * 5000 + "banner" + ")" * 5000]).endswith("or directory")


# ---------------------------------------------------------------------------------------
# Runlevels (values observed with prerule test scripts and no targets, Nmap 7.93)
# ---------------------------------------------------------------------------------------


def chosen(*names: str) -> list[Selected]:
    return [Selected(ScriptInfo(n, (), f"/t/{n}.nse"), True, False, "file path") for n in names]


DEPS = {"a": [], "b": ["a"], "c": ["b", "missing"], "d": ["a", "c"], "e": ["x"]}


def test_runlevels():
    # Nmap: "Starting runlevel 1 (of 4)": a x; 2: e b; 3: c; 4: d
    assert runlevels(chosen("a", "b", "c", "d", "e", "x"), DEPS) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "d": 4,
        "e": 2,
        "x": 1,
    }
    # x not selected: e's dependency is ignored
    assert runlevels(chosen("a", "b", "c", "d", "e"), DEPS)["e"] == 1
    assert runlevels(chosen("d", "c"), DEPS) == {"d": 2, "c": 1}
    assert runlevels([], DEPS) == {}


def test_circular_dependencies():
    deps = {"a": ["b"], "b": ["c", "zz"], "c": ["a"], "d": ["d"]}
    # Nmap loaded these path rules as b, a, c and reported `b->c->a->b`
    with pytest.raises(SelectionError, match=r"^circular dependency in chain `b->c->a->b`$"):
        runlevels(chosen("b", "a", "c"), deps)
    with pytest.raises(SelectionError, match=r"^circular dependency in chain `c->a->b->c`$"):
        runlevels(chosen("c", "b", "a"), deps)
    with pytest.raises(SelectionError, match=r"^circular dependency in chain `d->d`$"):
        runlevels(chosen("d"), deps)
    # a cycle through an unselected script is no cycle
    assert runlevels(chosen("a", "b"), deps) == {"a": 2, "b": 1}


# ---------------------------------------------------------------------------------------
# Live comparison with Nmap's own scripts
# ---------------------------------------------------------------------------------------

NMAP = shutil.which("nmap")
SCRIPT_DB = Path("/usr/share/nmap/scripts/script.db")
live = pytest.mark.skipif(
    NMAP is None or not SCRIPT_DB.is_file(), reason="nmap or its script.db is not installed"
)

#: Each case is a list of --script values (the last one is given as --script-help's).
LIVE_CASES: list[list[str]] = [
    ["default and not intrusive"],
    ["(auth or vuln) and not brute"],
    ["http-*"],
    ["DEFAULT"],
    ["Default,safe"],
    ["+banner"],
    ["+ banner"],
    ["Daytime"],
    ["banner and default or http-title"],
    ["(banner and default) or http-title"],
    ["safe and banner or ftp-brute"],  # Lua precedence would add ftp-brute
    ["(safe and banner) or ftp-brute"],
    ["http-title or banner and default"],
    ["vuln or exploit and not dos"],
    ["banner and safe,+banner"],
    ["+banner,banner and safe"],
    ["banner and safe", "+banner"],
    ["banner,+banner"],
    ["+banner,banner"],
    ["discovery,banner"],
    ["not banner and http-title"],
    ["+ not banner and http-title"],
    ["b*r"],
    ["*-brute and not (http-* or smb-*)"],
    ["smb-vuln-ms*"],
    ["NOT(intrusive) and ssl-*"],
    ["(http-title)and(safe)"],
    ["TRUE and banner"],
    ["true"],
    ["all"],
    ["*"],
    ["banner.nse"],
    ["banner.NSE"],
    ["bann?r"],
    ["default and"],
    ["and"],
    ["not"],
    ["false"],
    ["banner,,"],
    ["+"],
    ["+,banner"],
    ["banner,/usr/share/nmap/scripts/banner.nse"],
    ["+/usr/share/nmap/scripts/banner.nse"],
    ["/usr/share/nmap/scripts/banner"],
    ["/usr/share/nmap/scripts"],
    ["/usr/share/nmap/scripts/"],
]

_SELECTED = re.compile(
    r"^NSE: Script (.+)\.nse was selected by (name|category|file path|directory)"
    r"( and forced to run)?\.$",
    re.M,
)
_ERROR = re.compile(r"nse_main\.lua:\d+: (.*)$", re.M)


def _nmap_select(values: list[str]) -> tuple[list[tuple], str | None]:
    assert NMAP is not None
    cmd = [NMAP, "-d2"]
    for value in values[:-1]:
        cmd += ["--script", value]
    cmd += ["--script-help", values[-1]]
    out = subprocess.run(cmd, capture_output=True, timeout=300, check=False, cwd="/")
    text = out.stdout.decode("latin-1") + out.stderr.decode("latin-1")
    loaded = [(m[1], m[2], bool(m[3])) for m in _SELECTED.finditer(text)]
    error = _ERROR.search(text) if "QUITTING!" in text else None
    return loaded, error.group(1) if error else None


@pytest.fixture(scope="module")
def nmap_results() -> dict[tuple[str, ...], tuple[list[tuple], str | None]]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(_nmap_select, LIVE_CASES)
        return {tuple(case): result for case, result in zip(LIVE_CASES, results, strict=True)}


@pytest.fixture(scope="module")
def nmap_catalogue() -> tuple[list[ScriptInfo], str]:
    """script.db as nmapx's catalogue, with the paths Nmap resolves for its entries."""
    assert NMAP is not None
    scripts_dir = os.path.join(os.path.dirname(NMAP), "..", "share", "nmap", "scripts")
    catalogue = []
    entry = re.compile(r'Entry \{ filename = "([^"]+)", categories = \{([^}]*)\} \}')
    for m in entry.finditer(SCRIPT_DB.read_text()):
        categories = tuple(re.findall(r'"([^"]*)"', m[2]))
        path = f"{scripts_dir}/{m[1]}"
        catalogue.append(ScriptInfo(m[1].removesuffix(".nse"), categories, path))
    return catalogue, scripts_dir


def _nmap_like_load_path(rule: str) -> list[ScriptInfo] | None:
    """A test stand-in for Nmap's fetchscript, enough for absolute paths."""
    for candidate in (rule, rule + ".nse"):
        if not os.path.isabs(candidate):
            continue
        if os.path.isfile(candidate):
            stem = os.path.basename(candidate).rsplit(".", 1)[0]
            return [ScriptInfo(stem, (), candidate)]
        if os.path.isdir(candidate):
            if not rule.endswith("/"):
                raise SelectionError(
                    f"directory '{candidate}' found, but will not match without '/'"
                )
            return [
                ScriptInfo(name.removesuffix(".nse"), (), os.path.join(rule, name))
                for name in os.listdir(candidate)  # readdir order, as lfs.dir
                if name.endswith(".nse")
            ]
    return None


@live
@pytest.mark.parametrize("case", LIVE_CASES, ids=lambda c: " | ".join(c) or "empty")
def test_live_selection_matches_nmap(case, nmap_results, nmap_catalogue):
    expected_loaded, expected_error = nmap_results[tuple(case)]
    catalogue, _ = nmap_catalogue
    try:
        got = select(case, catalogue, _nmap_like_load_path)
    except SelectionError as e:
        assert str(e) == expected_error
        return
    assert expected_error is None
    assert [(s.info.id, s.how, s.forced) for s in got] == expected_loaded
    assert all(s.by_name == (s.how in ("name", "file path")) for s in got)


@live
def test_live_catalogue_is_complete(nmap_catalogue, nmap_results):
    catalogue, _ = nmap_catalogue
    assert len(catalogue) == len(SCRIPT_DB.read_text().splitlines())
    assert len(nmap_results[("all",)][0]) == len(catalogue)
