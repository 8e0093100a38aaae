"""The POSIX shell target: a `<flow_id>.sh` per flow, from the same IR as the Python target.

- script.py: the flow's own code (`generate_sh`), its fixed frame from templates/flow.sh.j2.
- process_inputs.py: the external.process inputs, one table (name, kind, default) for the generator,
  checked against the runtime's reading of them (tests/test_sh_target.py).
- words.py: values as shell words (quoting, JSON literals, lock names).
- runtime.py: the shell runtime built from runtime_stub/sh/ (sections and awk programs), shipped
  once per dist as aetherflow_runtime/runtime.sh, or inlined with --single-file.

Every YAML value enters the script through `shlex.quote` (or, for JSON literals, through
`json.dumps` then `shlex.quote`); nothing from the YAML is pasted into code.
"""

from aetherflow_compiler.codegen.sh.runtime import (
    DIST_PATH,
    VERIFY_PATH,
    dist_files,
    runtime_sha256,
    runtime_source,
)
from aetherflow_compiler.codegen.sh.script import generate_sh, start_checks, state_path_note
from aetherflow_compiler.codegen.sh.words import lock_name, posix_cksum

__all__ = [
    "DIST_PATH",
    "VERIFY_PATH",
    "dist_files",
    "generate_sh",
    "lock_name",
    "posix_cksum",
    "runtime_sha256",
    "runtime_source",
    "start_checks",
    "state_path_note",
]
