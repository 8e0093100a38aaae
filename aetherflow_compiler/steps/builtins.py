"""The engine's built-in step types (spec section 6). Inputs live in flow.schema.json."""

from __future__ import annotations

from aetherflow_compiler.steps.types import StepType

_F = frozenset
_OPENPYXL = (("openpyxl", "openpyxl"),)

BUILTIN_STEP_TYPES = [
    StepType(
        "external.process",
        outputs=_F(
            {"exit_code", "attempts", "stdout", "stderr", "log_file", "skipped", "marker", "reason"}
        ),
        can_skip=True,  # only with idempotency.strategy: marker
        extra_outputs_input="outputs",
        runtime=("steps.process", "run_external_process"),
    ),
    StepType(
        "check_items",
        outputs=_F({"has_data", "count", "reason"}),
        can_skip=True,
        runtime=("steps.check_items", "run_check_items"),
    ),
    StepType(
        "with_lock",
        inner_step_input="step",
        can_skip=True,
        runtime=("steps.with_lock", "run_with_lock"),
    ),
    StepType(
        "zip",
        outputs=_F({"output", "count", "password", "driver", "src_dir", "reason"}),
        resource_kind="archive",
        can_skip=True,
        runtime=("steps.zip", "run_zip"),
    ),
    StepType(
        "unzip",
        outputs=_F({"unzipped", "dest_dir"}),
        resource_kind="archive",
        runtime=("steps.zip", "run_unzip"),
    ),
    StepType(
        "db_extract",
        outputs=_F({"output", "format", "rows"}),
        resource_kind="db",
        runtime=("steps.db", "run_db_extract"),
    ),
    StepType(
        "db_fetch_small",
        outputs=_F(
            {"columns", "rows", "row_count", "columns_json", "rows_json", "dtypes", "dtypes_json"}
        ),
        resource_kind="db",
        runtime=("steps.db", "run_db_fetch_small"),
    ),
    StepType(
        "db_extract_stream",
        outputs=_F(
            {"artifact_path", "format", "columns", "row_count", "sha256", "dtypes", "dtypes_json"}
        ),
        resource_kind="db",
        runtime=("steps.db", "run_db_extract_stream"),
    ),
    StepType(
        "mail_send",
        outputs=_F({"sent", "to", "subject", "html"}),
        resource_kind="mail",
        runtime=("steps.mail", "run_mail_send"),
    ),
    *(
        StepType(
            f"{proto}_{verb}_files",
            outputs=_F(outputs),
            resource_kind=proto,
            can_skip=verb == "list",
            runtime=("steps.remote", f"run_{proto}_{verb}_files"),
        )
        for proto in ("sftp", "smb")
        for verb, outputs in (
            ("list", {"has_data", "count", "files", "reason"}),
            ("download", {"local_files", "dest_dir"}),
            ("upload", {"manifest", "count"} if proto == "sftp" else {"uploaded", "remote_dir"}),
            ("delete", {"is_deleted"}),
        )
    ),
    StepType(
        "excel_validate_template",
        outputs=_F({"template_ok", "found_named_ranges", "found_anchor_cells"}),
        runtime=("steps.excel", "run_excel_validate_template"),
        packages=_OPENPYXL,
    ),
    StepType(
        "excel_fill_small",
        outputs=_F({"output", "written"}),
        runtime=("steps.excel", "run_excel_fill_small"),
        packages=_OPENPYXL,
    ),
    StepType(
        "excel_fill_from_file",
        outputs=_F({"output", "written"}),
        runtime=("steps.excel", "run_excel_fill_from_file"),
        packages=_OPENPYXL,
    ),
]
