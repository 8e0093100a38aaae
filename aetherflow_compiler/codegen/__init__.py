"""Code generators: IR in, files out. They never look at YAML, bundles or the driver.

`literals` is the one place values become source (for every target), `python/` the
Python target, `sh/` the POSIX shell target, `runtime/` the runtime shipped beside the
scripts, `diagram` `aetherflow graph`'s Mermaid, DOT and JSON.
"""
