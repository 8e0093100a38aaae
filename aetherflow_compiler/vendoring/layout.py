"""Where vendored packages and their SBOM go in a dist."""

VENDOR = "aetherflow_vendor"  # one folder per distribution below it: <name>-<version>/
SBOM = "sbom.cdx.json"
