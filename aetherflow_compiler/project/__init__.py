"""What a compile works on, found on disk: the source files (`sources`: finding, reading
and telling flows, profiles, scheduler files and bundle manifests apart from each other
and from YAML that is not AetherFlow's; include/exclude globs), plugin
directories (`plugins`, imported in a child process by `plugin_import`) and bundles
(`bundles/`: a manifest, its files fetched from their source, what one compile needs).
"""
