"""aetherflow-compiler: compile AetherFlow YAML flows into self-contained artifacts.

The pipeline is the package layout, in order (each package's __init__ says what it holds;
tests/test_architecture.py holds them to importing only what comes before them):

    cli/          the `aetherflow` command line: commands, project config, output, exit codes
    project/      what a compile works on: source files, plugins, bundles
    frontend/     YAML -> Document -> diagnostics: loader, schema check, the `{{...}}` and
                  `when` parsers, checks/, which target a flow can be compiled for
    ir/           the intermediate representation (frozen dataclasses) and its builder
    codegen/      IR -> files: literals, python/, sh, runtime/ (the runtime a dist ships)
    schedule/     the scheduler file -> crontab, systemd timers, Kubernetes CronJobs
    driver/       `compile`'s phases, the fork pool, writing the dist
    vendoring/    host packages from a wheelhouse (the dist's aetherflow_vendor/)

Shared by them: steps/ (the step and connector registry), schemas/ (the JSON Schemas),
codes (the diagnostic catalog), diagnostics, suggest (did-you-mean), walk (defensive
lookups in loaded values), cache (the content-hash cache), package_data (the files shipped
beside the code: runtime, templates, schemas).
"""

__version__ = "0.1.0"
