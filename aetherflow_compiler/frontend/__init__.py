"""The front end: source text in, located diagnostics out; nothing is generated here.

`loader` (through `yaml_tree`) reads YAML into values with positions, `schema_check`
(with `fastcheck`) checks them against the JSON Schemas, `parse_template` and `parse_when`
parse the `{{...}}` and `when` languages into IR nodes, `checks/` holds the semantic checks
and `targets` which target (python, sh) a flow can be compiled for (`sh_target`: what
keeps a flow's IR from becoming a shell script). `validate` runs them
over many files into one Report. `describe` words places for messages; `explain_resources`
is `aetherflow explain`. The front end imports neither code generators nor the driver.
"""
