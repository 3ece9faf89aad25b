"""The ``costcap`` command."""

from __future__ import annotations

import sys


def main() -> None:
    """Console-script entry point."""
    from costcap.cli.app import run

    sys.exit(run(sys.argv[1:]))
