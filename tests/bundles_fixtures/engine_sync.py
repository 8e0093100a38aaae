"""Run the reference engine's own bundle sync, for the differential tests: executed by the
oracle virtual environment's Python (aetherflow-core==0.0.14).

    python engine_sync.py MANIFEST WORK_ROOT [--rest-sync]

prints {"fingerprint": ..., "active_dir": ...} as JSON, or {"error": "Type: message"}.

--rest-sync gives the engine's rest:httpx connector the `sync()` method its REST bundle
source calls and its connector lacks (0.0.14): `client()`, the httpx.Client it builds.
Nothing else of the engine is touched (so its REST source still fails on a listing of two
files or more: it sorts them by a field it leaves None)."""

from __future__ import annotations

import json
import sys

from aetherflow.core.bundles import sync_bundle


def main() -> None:
    manifest, work_root = sys.argv[1], sys.argv[2]
    if "--rest-sync" in sys.argv[3:]:
        from aetherflow.core.builtins.connectors import HttpxREST

        HttpxREST.sync = HttpxREST.client
    try:
        result = sync_bundle(bundle_manifest=manifest, work_root=work_root)
    except Exception as exc:  # the test compares what failed
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return
    print(json.dumps({"fingerprint": result.fingerprint, "active_dir": str(result.active_dir)}))


if __name__ == "__main__":
    main()
