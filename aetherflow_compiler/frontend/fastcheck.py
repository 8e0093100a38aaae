"""Schema checks compiled by fastjsonschema once, not in every process.

fastjsonschema turns a schema into Python code (~50 ms for the flow schema, ~40 ms for a
step type's inputs), which a compile that analyses one changed flow would otherwise pay
each time. The compiled code object is kept in the compile cache, keyed by the compiler's
fingerprint (which covers the schemas), the fastjsonschema version and the interpreter's
bytecode magic number; compile_paths lends its cache here (`use`), and without one every
check is compiled in the process, as fastjsonschema.compile does.
"""

from __future__ import annotations

import importlib.util
import marshal
from collections.abc import Callable
from typing import Any

from aetherflow_compiler.cache import CompileCache, compiler_fingerprint, key

_STORE: list[CompileCache] = []


def use(store: CompileCache | None) -> None:
    """Keep compiled checks in `store` from now on (None: compile them in the process)."""
    _STORE[:] = [store] if store is not None and store.enabled else []


def compiled(schema: dict[str, Any], name: str) -> Callable[[Any], Any]:
    """fastjsonschema.compile(schema); `name` tells this schema apart from the others in the
    cache (the file kind and step type it checks). Raises JsonSchemaDefinitionException."""
    import fastjsonschema

    if not _STORE:
        return fastjsonschema.compile(schema)
    store = _STORE[0]
    digest = key(
        compiler_fingerprint(),
        "schema-check",
        name,
        fastjsonschema.VERSION,
        importlib.util.MAGIC_NUMBER,
    )
    code = None
    data = store.get_bytes("checks", digest)
    if data is not None:
        try:
            code = marshal.loads(data)
        except (EOFError, ValueError, TypeError):
            code = None  # a damaged entry is a miss
    if code is None:
        # compile_to_code is fastjsonschema's own way of keeping a check: the same
        # function, with its global state (regexes, exception classes) as code.
        code = compile(fastjsonschema.compile_to_code(schema), f"<schema check {name}>", "exec")
        store.put_bytes("checks", digest, marshal.dumps(code))
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    check = namespace.get("validate")  # the scope name of a schema without $id
    return check if callable(check) else fastjsonschema.compile(schema)
