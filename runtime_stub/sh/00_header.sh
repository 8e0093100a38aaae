# aetherflow runtime for POSIX sh: the shell target's counterpart of aetherflow_runtime/.
# Shipped once per dist as aetherflow_runtime/runtime.sh and sourced by each compiled
# <flow_id>.sh (inlined into it with --single-file); plain POSIX sh (dash, bash --posix,
# busybox sh). Built from runtime_stub/sh/: its sections in name order, each awk program
# in place (aetherflow_compiler/codegen/sh/runtime.py).
#
# Values are carried as JSON literals (3, true, "text") so that outputs keep their types.
# Per step, only shell builtins run besides the step's own program: records are written
# with printf, and a record is complete only when its last line "}" is there (a reader
# ignores a torn record, as a JSON parser would), so no rename is needed per step.

AF_NL='
'
AF_UP0=
AF_NUL=

