"""The `aetherflow` console script. `aetherflow run` first tries dropin.fast_run, which
starts an already compiled flow without importing the compiler; everything else is the
click command line in cli.py."""

from __future__ import annotations

import sys
from typing import Any


def main() -> Any:
    if sys.argv[1:2] == ["run"]:
        from aetherflow_compiler.cli.dropin import fast_run

        fast_run(sys.argv[2:])  # returns only when the flow still needs compiling
    from aetherflow_compiler.cli.commands import main as cli_main

    return cli_main()
