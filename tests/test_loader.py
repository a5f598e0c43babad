"""Loading scripts: categories read without running a script, and only chosen scripts loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from nmapx.engine.loader import static_categories


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_categories_a_script_states_plainly_are_read_from_its_source(tmp_path: Path) -> None:
    plain = write(tmp_path, "a.py", 'categories = ["Default", "safe"]\nraise SystemExit\n')
    assert static_categories(plain) == ("default", "safe")
    annotated = write(tmp_path, "b.py", 'categories: list[str] = ("discovery",)\n')
    assert static_categories(annotated) == ("discovery",)


def test_anything_else_means_the_script_must_be_loaded_to_know(tmp_path: Path) -> None:
    cases = {
        "computed.py": 'categories = ["safe"] + EXTRA\n',
        "own_id.py": 'id = "other"\ncategories = ["safe"]\n',
        "not_strings.py": "categories = [1, 2]\n",
        "a_string.py": 'categories = "safe"\n',
        "broken.py": "categories = [\n",
        "none.py": "x = 1\n",
    }
    for name, text in cases.items():
        assert static_categories(write(tmp_path, name, text)) is None, name


def test_choosing_one_script_loads_no_other() -> None:
    """Nmap loads only the scripts it selects (from script.db); so does nmapx: a run of
    daytime imports neither ssl-cert nor the cryptography library ssl-cert needs."""
    probe = (
        "import sys\n"
        "from nmapx.engine.session import choose\n"
        "chosen = choose(['daytime'])\n"
        "print([c.script.id for c in chosen])\n"
        "print(sorted(m for m in sys.modules if m.startswith('nmapx.scripts.')))\n"
        "print(any(m.startswith('cryptography') for m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.stdout.splitlines() == [
        "['daytime']",
        "['nmapx.scripts.daytime']",
        "False",
    ], result.stderr


def test_an_id_given_as_a_plain_string_is_read_too(tmp_path: Path) -> None:
    """Nmap's ids may hold a dot (http-robots.txt), which a module name cannot."""
    from nmapx.engine.loader import static_info

    path = write(tmp_path, "http_robots_txt.py", 'id = "http-robots.txt"\ncategories = ["safe"]\n')
    assert static_info(path) == ("http-robots.txt", ("safe",))
    assert static_info(write(tmp_path, "c.py", 'id = NAME\ncategories = ["safe"]\n')) is None


def test_a_script_with_its_own_id_has_it_as_script_name() -> None:
    from nmapx.engine.loader import BUILTIN_DIR, load_builtin

    script = load_builtin(BUILTIN_DIR / "http_robots_txt.py")
    assert (script.id, script.module.SCRIPT_NAME) == ("http-robots.txt", "http-robots.txt")
