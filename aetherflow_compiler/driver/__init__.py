"""The compile driver: the phases of `aetherflow compile`, from paths to files.

`options` holds the one options object (and its cache key) and the target enum;
`compile` runs the phases in order (find, analyse, check the target, runtime, vendor,
generate, schedule, assemble); `analysis` is the per-file work, `pool` the fork pool it
runs in, `output` writing the dist atomically (or comparing it, for --check), `archive`
and `drift_diff` `--archive` and `--diff`.
"""
