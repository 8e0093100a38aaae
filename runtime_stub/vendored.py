"""Host packages vendored into the dist (`compile --wheelhouse`), and checking their files
against manifest.json (verify.py checks the whole dist).

A vendored distribution lives in aetherflow_vendor/<name>-<version>/; a flow script puts
the folders of the distributions it needs at the end of sys.path, after the standard
library, so that they never shadow it and no other flow's packages are found.
"""

from __future__ import annotations

import os
import sys

from . import TYPE_CHECKING

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import List, Tuple

VENDOR = "aetherflow_vendor"


def use_vendored(script: str, folders: Tuple[str, ...]) -> None:
    base = os.path.join(os.path.dirname(os.path.abspath(script)), VENDOR)
    for folder in folders:
        path = os.path.join(base, folder)
        if path not in sys.path:
            sys.path.append(path)


def vendored_report(
    script: str, folders: Tuple[str, ...]
) -> Tuple[List[Tuple[str, str, str]], List[str]]:
    """([(name, version, folder)], problems) for the vendored distributions of a flow."""
    from .verify import (  # check-env only: every start imports this module
        compare,
        manifest_artifacts,
        read_manifest,
    )

    base = os.path.dirname(os.path.abspath(script))
    manifest = read_manifest(base)
    entries = manifest.get("vendored")
    entries = entries if isinstance(entries, dict) else {}
    rows = []
    for folder in folders:
        entry = entries.get(folder)
        entry = entry if isinstance(entry, dict) else {}
        rows.append(
            (str(entry.get("name", folder)), str(entry.get("version", "?")), folder)
        )
    tops = tuple(VENDOR + "/" + folder for folder in folders)
    return rows, compare(base, manifest_artifacts(base, manifest), tops)
