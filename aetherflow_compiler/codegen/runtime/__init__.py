"""The runtime a dist ships (runtime_stub/, see its __init__ for its three names):
`package` chooses its files for a compile, hashes them and inlines them for
--single-file; `bundle` is the chosen set for one compile; `bytecode` its .pyc files."""
