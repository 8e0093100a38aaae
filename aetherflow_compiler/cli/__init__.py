"""The `aetherflow` command line: what the user types and what they see.

`entry` is the console script (a compiled flow starts through `dropin` without importing
the rest), `commands` the click commands, `project_config`/`config_defaults` the project
config as the commands' defaults (`toml_positions`: where each TOML key is written),
`report` and `compile_outcome` the output of `validate` and `compile` (`formats`: the
machine formats of `--format`: GitHub workflow commands, SARIF, GitLab code quality,
JUnit), `tree_bundles` the bundle manifests `validate` finds in folders, `exit_codes` the
exit statuses. This is the only package that calls the driver.
"""
