"""The exit statuses every `aetherflow` command uses (README: Exit codes)."""

EXIT_OK = 0  # done; for --check and --diff: up to date
EXIT_DRIFT = 1  # --check or --diff found the output out of date
EXIT_INVALID = 2  # invalid input, usage, or an output that cannot be written
EXIT_INTERNAL = 3  # an internal error (a bug in the compiler), never bad input
