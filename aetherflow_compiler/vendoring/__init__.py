"""Host packages vendored from a wheelhouse (`compile --wheelhouse DIR`).

The pipeline: `target` says which interpreter and platform the dist is for (wheel tags
and marker values, from `packaging`); `wheelhouse` indexes the wheels of DIR and resolves
each flow's host packages and their `Requires-Dist` against it; `unpack` turns the chosen
wheels into dist files with `installer`; `sbom` describes them as CycloneDX; `dist` puts
it together; `layout` names the paths. The compiler reads only DIR: no index, no network.

These are the only modules named after vendoring: the dist's `aetherflow_vendor/` folder
they write, and the runtime's `vendored.py`, which puts it on sys.path. The runtime itself
ships through codegen/runtime/.

Nothing is imported here: a compile without --wheelhouse does not pay for packaging,
installer or cyclonedx (import the submodules).
"""
