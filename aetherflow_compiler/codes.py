"""The catalog of diagnostic codes.

Codes are stable: once released, a code keeps its meaning. New problems get new codes.
Ranges: AF1xx reading YAML, AF2xx schema, AF3xx flow semantics, AF4xx templates,
AF5xx `when` expressions, AF6xx step inputs, AF7xx code generation, AF8xx warnings and notes,
AF9xx the project config (`[tool.aetherflow]` in pyproject.toml, or aetherflow.toml).
`docs/error-codes.md` is generated from this table plus the golden test cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    """How a diagnostic counts (docs/compatibility.md): an error fails the command (exit 2);
    a warning is something the engine runs but the author most likely did not mean; a note
    is information about what the compiler made of a valid flow, with nothing to fix."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Code:
    code: str
    name: str
    severity: Severity
    summary: str
    fix: str


_E = Severity.ERROR
_W = Severity.WARNING
_N = Severity.NOTE

_ALL = [
    # --- reading YAML -------------------------------------------------------------------
    Code(
        "AF100",
        "unreadable-file",
        _E,
        "The file cannot be read, or is not a regular file (a FIFO, a socket, a "
        "device: never read), or a folder searched for flows cannot be listed (its flows would be left out).",
        "Check the path and its permissions.",
    ),
    Code(
        "AF101",
        "file-too-large",
        _E,
        "The file is larger than the size limit (4 MiB).",
        "Flow files are small; split the flow or check that the right file was passed.",
    ),
    Code("AF102", "not-utf8", _E, "The file is not valid UTF-8.", "Save the file as UTF-8."),
    Code(
        "AF103",
        "yaml-syntax",
        _E,
        "The file is not valid YAML, or holds what PyYAML (so the engine) cannot "
        "read: a core tag on a value it does not describe (`!!int abc`, `!!map abc`, `!!str [1]`), a date that "
        "does not exist (`2024-02-30`); or its lists and mappings nest more than 100 deep.",
        "Fix the YAML syntax at the reported position (indentation, quotes, colons); remove the tag or quote "
        "the value.",
    ),
    Code(
        "AF104",
        "multiple-documents",
        _E,
        "The file holds more than one YAML document.",
        "Put one flow per file; remove the `---` separator and what follows it.",
    ),
    Code(
        "AF105",
        "forbidden-tag",
        _E,
        "A YAML tag outside the core schema (such as `!!python/object`).",
        "Remove the tag; flows may only use plain YAML values.",
    ),
    Code(
        "AF106",
        "alias-budget",
        _E,
        "Aliases expand the document beyond the alias budget.",
        "Use fewer nested aliases; this limit stops 'billion laughs' files.",
    ),
    Code(
        "AF107",
        "recursive-alias",
        _E,
        "An alias refers to a node that contains it.",
        "Remove the self-referencing alias.",
    ),
    Code(
        "AF108",
        "duplicate-key",
        _E,
        "A mapping has the same key twice (YAML keeps the last one silently).",
        "Remove or rename one of the keys.",
    ),
    Code(
        "AF109",
        "complex-key",
        _E,
        "A mapping key is a list or a mapping.",
        "Use a plain string key.",
    ),
    Code(
        "AF110",
        "empty-file",
        _E,
        "The file holds no YAML document.",
        "Write a flow into the file or remove it.",
    ),
    Code(
        "AF111",
        "integer-too-large",
        _E,
        "An integer with more than 4,300 decimal digits, in any notation "
        "(decimal, `0x`, a leading `0`, `0b` or base 60): Python cannot turn it into text. PyYAML, so the "
        "engine, fails on such a decimal integer; in the other notations the engine fails where it makes "
        "text or a float of it (a command argument, a timeout).",
        "Quote it if it is a string; no setting needs a number that large.",
    ),
    # --- schema -------------------------------------------------------------------------
    Code(
        "AF201",
        "unknown-key",
        _E,
        "A key that the language does not define (the engine would ignore it).",
        "Fix the spelling (see the hint) or remove the key.",
    ),
    Code("AF202", "missing-key", _E, "A required key is missing.", "Add the key."),
    Code(
        "AF203",
        "wrong-type",
        _E,
        "A value has the wrong type.",
        "Write a value of the expected type.",
    ),
    Code(
        "AF204",
        "invalid-value",
        _E,
        "A value is not one of the allowed values.",
        "Use one of the listed values.",
    ),
    Code(
        "AF205",
        "invalid-name",
        _E,
        "An id or name that is unsafe or empty: ids name files and directories, "
        "so `/`, `\\`, control characters, `.` and `..` are refused (the engine would write outside its "
        "workspace); other names have their own patterns.",
        "Use letters, digits, `_` and `-`; ids used in templates must start with a letter or `_`.",
    ),
    Code(
        "AF206",
        "out-of-range",
        _E,
        "A value is outside its allowed range or size.",
        "Use a value in range.",
    ),
    # --- flow semantics ---------------------------------------------------------------
    Code(
        "AF301", "duplicate-job-id", _E, "Two jobs have the same id.", "Give every job a unique id."
    ),
    Code(
        "AF302",
        "duplicate-step-id",
        _E,
        "Two steps of one job have the same id.",
        "Give every step of a job a unique id.",
    ),
    Code(
        "AF303",
        "unknown-dependency",
        _E,
        "`depends_on` names a job that does not exist.",
        "Fix the job id (see the hint).",
    ),
    Code(
        "AF304",
        "dependency-cycle",
        _E,
        "Jobs depend on each other in a cycle.",
        "Break the cycle by removing one of the named `depends_on` entries.",
    ),
    Code(
        "AF305",
        "dependency-order",
        _E,
        "A job depends on a job declared after it (jobs run in declared order).",
        "Move the dependency above the job that depends on it.",
    ),
    Code(
        "AF306",
        "unknown-step-type",
        _E,
        "A step type that is neither built in nor registered by a plugin.",
        "Fix the type (see the hint) or load the plugin that provides it.",
    ),
    Code(
        "AF307",
        "unknown-profile",
        _E,
        "A resource names a profile that the profiles file lacks.",
        "Add the profile to the profiles file or fix its name.",
    ),
    Code(
        "AF308",
        "unknown-resource",
        _E,
        "A step input names a resource that the flow does not define.",
        "Define the resource under `resources:` or fix its name.",
    ),
    Code(
        "AF309",
        "resource-kind-mismatch",
        _E,
        "A step uses a resource of the wrong kind.",
        "Point the step at a resource of the kind it needs.",
    ),
    Code(
        "AF310",
        "decode-target",
        _E,
        "A `decode` path points at a value that is not a plain string or one standalone token.",
        "Decode whole values: make the value a literal or exactly one `{{env.X}}` token.",
    ),
    Code(
        "AF311",
        "duplicate-item-id",
        _E,
        "Two scheduler items have the same id.",
        "Give every item a unique id.",
    ),
    Code(
        "AF312",
        "unknown-timezone",
        _E,
        "The timezone is not an IANA timezone name.",
        "Use a name such as `UTC` or `Europe/Berlin`.",
    ),
    Code(
        "AF313",
        "unreachable-step",
        _W,
        "A step can never run: an earlier `on_no_data: skip_job` step always reports no data.",
        "Fix the probe step's inputs or remove the steps after it.",
    ),
    Code(
        "AF314",
        "unknown-connector",
        _E,
        "A resource's kind and driver name no connector.",
        "Fix the kind or driver (see the hint) or load the plugin that registers the connector.",
    ),
    Code(
        "AF315",
        "invalid-cron",
        _E,
        "A scheduler item's `cron` is not a valid five-field cron expression.",
        "Write minute hour day-of-month month day-of-week, each `*`, a number, a range `a-b`, a list and "
        "an optional `/step`; months and weekdays may be names (`jan`, `mon`).",
    ),
    Code(
        "AF316",
        "unknown-schedule-flow",
        _E,
        "With `compile --schedule`: an item's `flow_yaml` is not one of the "
        "flows being compiled.",
        "Compile that flow too, or fix the path (relative to the scheduler file).",
    ),
    Code(
        "AF317",
        "unknown-schedule-job",
        _E,
        "With `compile --schedule`: an item's `flow_job` is not a job of its flow.",
        "Use one of the flow's job ids (see the hint) or drop `flow_job` to run the whole flow.",
    ),
    Code(
        "AF318",
        "bundle-source",
        _E,
        "A bundle manifest's source cannot be used as written: a key its type "
        "needs is missing (base_path, resource), or its resource is not a manifest resource of the kind the "
        "type reads through.",
        "Add the key, or declare the resource under the manifest's `resources:` (kind sftp, smb, db or rest).",
    ),
    Code(
        "AF319",
        "bundle-layout",
        _E,
        "A bundle does not hold what its manifest names: `entry_flow`, "
        "`layout.profiles_file`, `layout.flows_dir` or `layout.plugins_dir`.",
        "Fix the path (relative to the bundle root) or add the file to the bundle.",
    ),
    Code(
        "AF320",
        "bundle-fetch",
        _E,
        "With `--bundle-manifest`: the bundle cannot be read from its source "
        "(connection, listing, a file, a driver package, or a resource value that does not resolve).",
        "Fix what the message names; the compiler reads the bundle with the environment it runs in.",
    ),
    Code(
        "AF321",
        "bundle-checksum",
        _E,
        "A bundle file's content does not match the sha256 its source lists: "
        "the engine refuses such a bundle too.",
        "Publish the bundle again, or fix the checksum the source lists.",
    ),
    Code(
        "AF322",
        "schedule-item-target",
        _E,
        "A scheduler item names no flow, or more than one of `flow_yaml` "
        "(or `flow`) and `bundle_manifest`: the engine's scheduler refuses it.",
        "Give the item exactly one of flow_yaml and bundle_manifest.",
    ),
    Code(
        "AF323",
        "wheelhouse-lacks-package",
        _E,
        "With `--wheelhouse`, a host package a flow needs (or one of its "
        "dependencies) has no wheel there for the target Python and platform: the artifact would fail on the "
        "host when it imports it.",
        "Add its wheels to the wheelhouse (`pip download --only-binary=:all:`, with `--platform` and "
        "`--python-version` of the hosts), or compile without `--wheelhouse` and install it on the hosts.",
    ),
    # --- templates ----------------------------------------------------------------------
    Code(
        "AF401",
        "template-syntax",
        _E,
        "Unsupported templating syntax. Use {{VAR}} or {{VAR:DEFAULT}}",
        "Only `{{PATH}}` and `{{PATH:DEFAULT}}` are templates; `${...}`, `{%...%}`, `{#...#}`, `{}`, "
        "filters and nested braces are refused (the engine fails on them at run time).",
    ),
    Code(
        "AF402",
        "template-root-not-allowed",
        _E,
        "A template uses a root that this place does not offer.",
        "Resources and flow settings see only `env`; step inputs and outputs see env, steps, job, "
        "jobs, run_id and flow_id; `result` only in step outputs.",
    ),
    Code(
        "AF403",
        "bad-reference-path",
        _E,
        "A template or `when` path that can never resolve.",
        "Use `job.id`, `job.outputs.KEY`, `jobs.JOB.outputs.KEY`, `jobs.JOB.status`, `steps.STEP.KEY`, "
        "`run_id`, `flow_id`, `result.KEY` or `env.NAME`.",
    ),
    Code(
        "AF404",
        "unknown-step-reference",
        _E,
        "`steps.X` where X is not an earlier step of the same job.",
        "Reference a step that runs before this one in the same job; use job outputs across jobs.",
    ),
    Code(
        "AF405",
        "unknown-job-reference",
        _E,
        "`jobs.J` where J is not a job that runs earlier.",
        "Reference a job declared before this one.",
    ),
    Code(
        "AF406",
        "unknown-job-output",
        _E,
        "`jobs.J.outputs.K` or `job.outputs.K` where no step declares K in `outputs`.",
        "Declare K in the `outputs` of a step of that job, or fix the key.",
    ),
    Code(
        "AF407",
        "unknown-step-output",
        _E,
        "`steps.X.K` where step X's type never returns K.",
        "Use one of the step type's output keys (see the hint).",
    ),
    # --- when ---------------------------------------------------------------------------
    Code(
        "AF501",
        "when-syntax",
        _E,
        "A `when` expression that does not parse, as Python reads it (the engine "
        "evaluates `when` with Python and its validation refuses a syntax error, such as a keyword in "
        "`jobs.if.status`, before anything runs).",
        "Write comparisons over `jobs.J.outputs.K` and literals, joined with and/or/not.",
    ),
    Code(
        "AF502",
        "when-unsupported",
        _E,
        "A `when` expression uses something outside the allowed subset.",
        "Only `jobs.J.outputs.K`, `jobs.J.status`, `jobs.J.skip_reason`, literals, comparisons, "
        "and/or/not and parentheses are allowed.",
    ),
    # --- step inputs --------------------------------------------------------------------
    Code(
        "AF601",
        "unknown-step-input",
        _E,
        "A step input that the step type does not read.",
        "Fix the name (see the hint) or remove it; the engine would silently ignore it.",
    ),
    Code("AF602", "missing-step-input", _E, "A required step input is missing.", "Add the input."),
    Code(
        "AF603",
        "step-input-type",
        _E,
        "A step input has the wrong type.",
        "Write a value of the expected type.",
    ),
    Code(
        "AF604",
        "invalid-step-input",
        _E,
        "A step input is not one of its allowed values.",
        "Use one of the listed values.",
    ),
    Code(
        "AF605",
        "step-input-conflict",
        _E,
        "Step inputs that do not work together.",
        "Add the input that the combination needs (see the message).",
    ),
    # --- code generation ---------------------------------------------------------------
    Code(
        "AF701",
        "not-supported-yet",
        _E,
        "The flow uses a feature that this compiler target does not support yet "
        "(reserved: every built-in step type, connector and archive driver compiles today).",
        "Use a supported step type or connector, or run this flow with the reference engine for now.",
    ),
    Code(
        "AF702",
        "duplicate-flow-id",
        _E,
        "Two flow files have the same flow id (they would write the same artifact).",
        "Give every flow a unique `flow.id`.",
    ),
    Code(
        "AF703",
        "plugin-error",
        _E,
        "A plugin directory or file cannot be used: it is missing or cannot be "
        "read, fails to import (with AETHERFLOW_PLUGIN_STRICT=false that is a warning and the file is skipped, as "
        "in the engine), takes longer than AETHERFLOW_PLUGIN_IMPORT_TIMEOUT seconds to import or ends the process, "
        "registers what the compiler cannot use (a name that is not a string, required_inputs that are not input "
        "names, an invalid input schema), or two plugin directories hold the same file path.",
        "Fix the plugin (the message quotes the error); plugins may import `aetherflow.core.api`, "
        "the standard library and their own files.",
    ),
    Code(
        "AF704",
        "plugin-not-allowed",
        _E,
        "A plugin use that the compile mode does not allow "
        "(`--single-file` with plugins, or an archive driver outside the enterprise allowlist).",
        "Drop `--single-file` when compiling with plugins; in enterprise mode use an allowed archive driver.",
    ),
    Code(
        "AF705",
        "not-expressible-in-sh",
        _E,
        "With `--target sh`: the flow uses something the POSIX shell "
        "target cannot express (a step type other than external.process, check_items and with_lock, a plugin "
        "step, a resource, a template that reads a whole result or a nested value, an id or env name the "
        "shell cannot hold, the bundle's env_files).",
        "Compile the flow for python, or change what the message names.",
    ),
    # --- warnings and notes -------------------------------------------------------------
    Code(
        "AF801",
        "boolean-key",
        _W,
        "A mapping key that YAML 1.1 reads as a boolean (`on`, `yes`, `off`, ...).",
        "Quote the key.",
    ),
    Code(
        "AF802",
        "sexagesimal-number",
        _W,
        "A value like `1:30` that YAML 1.1 reads as a base-60 number.",
        "Quote the value if it is a time or a string.",
    ),
    Code(
        "AF803",
        "octal-number",
        _W,
        "A value like `017` that YAML 1.1 reads as an octal number.",
        "Quote the value if the leading zero matters.",
    ),
    Code(
        "AF804",
        "date-value",
        _W,
        "A value like `2024-01-31` that YAML reads as a date, not a string.",
        "Quote the value.",
    ),
    Code(
        "AF805",
        "on-no-data-never-skips",
        _W,
        "`on_no_data: skip_job` on a step that never reports no data.",
        "Remove `on_no_data` or use a probe step such as `check_items`.",
    ),
    Code(
        "AF807",
        "cron-day-or",
        _W,
        "A `cron` restricts both the day of month and the day of week. cron, systemd "
        "timers (as compiled) and Kubernetes run on days matching either; the engine's APScheduler needs both.",
        "Keep one of the two fields `*`, or split the item in two, so that every scheduler agrees.",
    ),
    Code(
        "AF808",
        "cron-numeric-weekday",
        _W,
        "A `cron` names weekdays by number. cron and Kubernetes read 0 as "
        "Sunday; the engine's APScheduler reads 0 as Monday, so the same item ran a day later there.",
        "Write weekday names (`mon-fri`): every scheduler reads them the same.",
    ),
    Code(
        "AF809",
        "plugin-replaces-builtin",
        _W,
        "A plugin registers a step type or connector under the name of "
        "a built-in one and replaces it for this compile, as the engine does (its registries keep the last "
        "registration). The step's inputs are then checked against the plugin's `required_inputs` and "
        "`input_schema`, not the built-in's.",
        "Nothing to do if the replacement is meant; otherwise give the plugin's step or connector its own name.",
    ),
    Code(
        "AF810",
        "defaulted-reference",
        _W,
        "A template token with a default (`{{result.x:fallback}}`) reads "
        "something that is never there (the message names the check, such as AF406 for an output no step "
        "declares). The engine renders the default, so the flow runs; here too, every time.",
        "Nothing to do if the default is meant; otherwise fix the reference (the message says what is wrong).",
    ),
    Code(
        "AF811",
        "plugin-skipped",
        _W,
        "With AETHERFLOW_PLUGIN_STRICT=false: a plugin file failed to import and "
        "is skipped, as the engine skips it; what it would register is unknown.",
        "Fix the plugin (the message quotes the error), or leave it out of the plugin directory.",
    ),
    Code(
        "AF812",
        "nested-argument",
        _W,
        "An element of external.process `command` or `args` is a list or a "
        "mapping: like the engine, the step passes it as one argument, its Python text (`['a', 'b']`).",
        "Write each argument as its own element of the list.",
    ),
    Code(
        "AF813",
        "id-not-portable",
        _W,
        "A flow, job or step id with characters other than letters, digits, "
        "`_` and `-` (such as `load.v2`). The engine and the Python artifact accept it, but the POSIX shell "
        "target cannot hold it, and templates and `when` cannot name it unless it is made of (Unicode) "
        "letters, digits and `_`.",
        "Rename it with letters, digits, `_` and `-` if other steps or jobs need to refer to it.",
    ),
    Code(
        "AF814",
        "unused-unknown-connector",
        _W,
        "A resource whose kind and driver name no connector, which no "
        "step names. The engine builds connectors on first use, so it never fails on it; a plugin step that "
        "looks the resource up by a fixed name fails at run time, there and here.",
        "Fix the kind or driver (see the hint), load the plugin that registers it, or remove the resource.",
    ),
    Code(
        "AF815",
        "schedule-other-bundle",
        _W,
        "With `compile --schedule`: a scheduler item runs a bundle "
        "manifest other than the one being compiled (one bundle per dist); it is left out of this dist's "
        "schedule files.",
        "Compile that bundle into its own dist with the same scheduler file.",
    ),
    Code(
        "AF816",
        "sh-state-beside",
        _W,
        "With `--target sh` or `all`: the flow declares a state backend other "
        "than `file`; its sh artifact keeps the file layout at the declared path plus `.d`, so its runs and "
        "locks are not those of the Python artifact or the engine.",
        "Run one target of the flow per state store, or set `state.backend: file`.",
    ),
    Code(
        "AF806",
        "no-shell-artifact",
        _N,
        "With `--target all`: a flow the POSIX shell target cannot express "
        "gets only its Python artifact. A note, one per flow, located at the flow's id and listing "
        "every reason with its own position: `all` asks for a shell script where the flow allows "
        "one, and the Python artifact is complete.",
        "Nothing to do if the flow runs where Python is; otherwise change what the reasons name.",
    ),
    Code(
        "AF817",
        "config-shadowed",
        _W,
        "A folder holds both an aetherflow.toml and a pyproject.toml with a "
        "`[tool.aetherflow]` table: aetherflow.toml is used (as ruff prefers ruff.toml) and the table is ignored.",
        "Keep the settings in one of the two files: move them into aetherflow.toml, or delete aetherflow.toml.",
    ),
    # --- the project config --------------------------------------------------------------
    Code(
        "AF901",
        "config-syntax",
        _E,
        "The project config (pyproject.toml, aetherflow.toml or `--config FILE`) "
        "is not valid TOML.",
        "Fix the TOML syntax at the reported position.",
    ),
    Code(
        "AF902",
        "unknown-config-key",
        _E,
        "A key of the project config that the compiler does not read "
        "(it would be silently ignored).",
        "Fix the spelling (see the hint) or remove the key. The keys are the names of `compile`'s flags "
        "without `--`, in kebab-case: `deploy-dir`, not `deploy_dir`.",
    ),
    Code(
        "AF903",
        "config-wrong-type",
        _E,
        "A project config value has the wrong type (such as a string where "
        "an array of strings is expected).",
        "Write a value of the expected type (see the hint).",
    ),
    Code(
        "AF904",
        "config-invalid-value",
        _E,
        "A project config value is not one of the allowed values, is "
        'empty, or is not in the form the flag takes (`target = "rust"`, `k8s-request = ["cpu"]`).',
        "Use one of the listed values, or the form the message names.",
    ),
    Code(
        "AF905",
        "config-conflict",
        _E,
        "Project config keys that cannot go together: `bundle-manifest` with "
        "`paths`, `profiles` or `plugins` (the manifest names them), `bytecode` with `no-bytecode`.",
        "Keep one of the two keys (see the message).",
    ),
]

CODES: dict[str, Code] = {c.code: c for c in _ALL}


def severity(code: str) -> Severity:
    return CODES[code].severity
