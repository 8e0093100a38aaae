"""Bundle manifests (the engine's `--bundle-manifest`), read when compiling.

`manifest` validates a manifest and gives its model; `fetch` reads the bundle's files
from its source (filesystem, sftp, smb, db or rest, through the runtime's connectors) with
the engine's fingerprint; `project` turns a fetched bundle into what a compile needs: the
flows, the profiles file, the plugin directories, the mode and the archive drivers.
"""
