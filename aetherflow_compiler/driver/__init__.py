"""The compile driver: the phases of `aetherflow compile`, from paths to the files of a dist.

`options` holds the one options object (it owns the option parts of every cache key) and
the target enum; `compile` runs the phases in order, one function each (read the inputs,
analyse, report, choose the runtime, vendor, generate, schedule, assemble); `analysis` is
the per-file work and `pool` the fork pool it runs in; `assemble` puts the dist together with
its manifest.json; `output` writes it atomically (or compares it, for --check);
`archive` and `drift_diff` are --archive and --diff.
"""
