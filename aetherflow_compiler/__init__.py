"""aetherflow-compiler: compile AetherFlow YAML flows into self-contained artifacts.

The pipeline is the package layout:

    loader        YAML text -> Document (values + source positions)
    schema_check  Document -> diagnostics (JSON Schema, did-you-mean)
    checks/       Document -> diagnostics (ids, dependencies, steps, references)
    build         Document -> ir.Flow (frozen dataclasses; what code generators consume)
    validate      runs the stages above for many files and returns one Report
"""

__version__ = "0.1.0"
