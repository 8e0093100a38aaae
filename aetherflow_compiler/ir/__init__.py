"""The intermediate representation: what code generators consume, never YAML.

`nodes` (Flow, Job, Step, Resource, ...), `template` (a parsed `{{...}}` string) and
`when` (a parsed `when` expression) are plain frozen dataclasses that import only each
other and the standard library. `builder` turns a checked document into a `nodes.Flow`;
`pprint` writes one as text (the golden tests in tests/golden/ir/ compare it);
`validation` says which templates the engine's validation renders before a run.
"""
