"""Fail, naming the package, when a dependency has a release above the range pyproject declares.

``make test-latest`` runs the suite against the newest releases *inside* the declared ranges;
this check tells when a release *outside* them (a new major of an SDK, say) has appeared, so
that it shows up as a named failing check instead of as a surprise for users.

It asks the package index (through pip) for the newest release of every runtime dependency.
Exit codes: 0 all newest releases are inside their ranges; 1 some are not (one line each);
2 the check itself could not run (pyproject unreadable, index unreachable).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SKIPPED_EXTRAS = {"dev"}  # test tools: pinned by constraints.txt, not part of what users install


def declared(pyproject: Path) -> dict[str, Requirement]:
    """Every runtime requirement of the project (core and extras, not itself, not dev tools)."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in SKIPPED_EXTRAS:
            lines.extend(requirements)
    found: dict[str, Requirement] = {}
    for line in lines:
        requirement = Requirement(line)
        if requirement.name != project["name"]:
            found[canonicalize_name(requirement.name)] = requirement
    return found


class IndexUnreachable(Exception):
    """pip could not ask the package index."""


def newest(names: list[str]) -> dict[str, Version]:
    """The newest release of each name on the index pip is configured for."""
    command = [
        sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps",
        "--ignore-installed", "--report", "-", *names,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise IndexUnreachable(tail)
    report = json.loads(done.stdout)
    return {
        canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
        for item in report["install"]
    }


def findings(requirements: dict[str, Requirement], releases: dict[str, Version]) -> list[str]:
    """One line per dependency whose newest release is outside its range, or that has none."""
    lines = []
    for name, requirement in sorted(requirements.items()):
        release = releases.get(name)
        if release is None:
            lines.append(f"check-bounds: the index did not answer for {name}")
        elif not requirement.specifier.contains(release, prereleases=False):
            lines.append(
                f"check-bounds: {name} {release} is released, outside the declared "
                f"'{requirement}': run the suite against it, then widen the range"
            )
    return lines


def main() -> int:
    requirements = declared(ROOT / "pyproject.toml")
    try:
        releases = newest(sorted(requirements))
    except IndexUnreachable as exc:
        sys.stderr.write(f"check-bounds: cannot ask the package index: {exc}\n")
        return 2
    lines = findings(requirements, releases)
    for line in lines:
        sys.stderr.write(f"{line}\n")
    if not lines:
        sys.stdout.write(
            f"check-bounds: the newest releases of {len(requirements)} dependencies are inside "
            "their declared ranges\n"
        )
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
