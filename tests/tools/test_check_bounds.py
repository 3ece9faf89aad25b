"""tools/check_bounds.py: a release above a declared range is a named finding."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

from tools.check_bounds import declared, findings

PYPROJECT = """
[project]
name = "costcap"
dependencies = ["typer>=0.20,<1"]
[project.optional-dependencies]
sdk = ["openai>=3,<4", "Anthropic>=2,<3"]
all = ["costcap[sdk]"]
dev = ["pytest>=8"]
"""


def test_declared_reads_core_and_extras_but_not_itself_or_dev_tools(tmp_path: Path) -> None:
    """Runtime requirements come from the core list and every extra but ``dev``."""
    path = tmp_path / "pyproject.toml"
    path.write_text(PYPROJECT, encoding="utf-8")
    assert sorted(declared(path)) == ["anthropic", "openai", "typer"]


def test_a_new_major_above_the_range_is_named() -> None:
    """openai 4.0.0 against '<4' gives one line naming the package, the release and the range."""
    requirements = {"openai": Requirement("openai>=3,<4")}
    [line] = findings(requirements, {"openai": Version("4.0.0")})
    assert "openai 4.0.0 is released, outside the declared 'openai<4,>=3'" in line


def test_newest_inside_the_range_is_no_finding() -> None:
    """The newest release inside the range (3.60.0 against '<4') is fine."""
    requirements = {"openai": Requirement("openai>=3,<4")}
    assert findings(requirements, {"openai": Version("3.60.0")}) == []


def test_a_package_the_index_does_not_know_is_a_finding() -> None:
    """A dependency with no answer from the index is reported, not passed over."""
    requirements = {"openai": Requirement("openai>=3,<4")}
    assert findings(requirements, {}) == ["check-bounds: the index did not answer for openai"]
