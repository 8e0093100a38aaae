"""db_extract, db_fetch_small and db_extract_stream, on any connector with read/fetchmany.

Files are written to a temp file next to the output and renamed into place, so an
interrupted extract never leaves a half-written file under the final name.
"""

from __future__ import annotations

import json
import os

from .. import TYPE_CHECKING, new_sha256
from ..errors import StepError
from ..results import to_bool, to_int
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, List

    from ..runner import StepContext


def _db(ctx: StepContext, inputs: Dict[str, Any]) -> Any:
    return ctx.connectors.db(str(inputs["resource"]))


def _params(inputs: Dict[str, Any]) -> Any:
    params = inputs.get("params")
    if isinstance(params, str) and params.strip()[:1] in ("{", "["):
        try:
            return json.loads(params)
        except ValueError:
            return params
    return params


def _json_safe(value: Any) -> Any:
    import datetime
    import decimal

    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def _dtype(python_type: type) -> str:
    import datetime
    import decimal

    if python_type is bool:
        return "bool"
    if python_type is int:
        return "int"
    if python_type in (float, decimal.Decimal):
        return "float"
    if python_type is datetime.datetime:
        return "datetime"
    if python_type is datetime.date:
        return "date"
    return "string"


def _output(ctx: StepContext, inputs: Dict[str, Any]) -> str:
    path = ctx.resolve_path(inputs["output"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def run_db_extract(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs("db_extract", inputs, ("resource", "sql", "output"))
    fmt = str(inputs.get("format") or "tsv").lower()
    if fmt not in ("tsv", "jsonl"):
        raise StepError("db_extract: unsupported format %r (tsv or jsonl)" % fmt)
    columns, rows = _db(ctx, inputs).fetchall(str(inputs["sql"]), _params(inputs))
    path = _output(ctx, inputs)
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            if fmt == "tsv":
                if columns:
                    fh.write("\t".join(columns) + "\n")
                for row in rows:
                    fh.write("\t".join("" if v is None else str(v) for v in row) + "\n")
            else:
                for row in rows:
                    record = {columns[i]: row[i] for i in range(len(columns))}
                    fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"output": path, "format": fmt, "rows": len(rows)}


def run_db_fetch_small(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs("db_fetch_small", inputs, ("resource", "sql"))
    max_rows = to_int(inputs.get("max_rows", 50000), "max_rows")
    fetch_size = to_int(inputs.get("fetch_size", 5000), "fetch_size")
    columns, rows_iter, types = _db(ctx, inputs).fetchmany(
        str(inputs["sql"]), _params(inputs), fetch_size=fetch_size
    )
    rows: List[List[Any]] = []
    for row in rows_iter:
        rows.append(list(row))
        if len(rows) > max_rows:
            rows_iter.close()
            raise StepError(
                "db_fetch_small exceeded max_rows=%d; use db_extract_stream for large results"
                % max_rows
            )
    dtypes = {str(c): _dtype(t) for c, t in zip(columns, types)}
    safe = [[_json_safe(v) for v in row] for row in rows]
    return {
        "columns": columns,
        "rows": safe,
        "row_count": len(rows),
        "columns_json": json.dumps(columns, ensure_ascii=False),
        "rows_json": json.dumps(safe, ensure_ascii=False),
        "dtypes": dtypes,
        "dtypes_json": json.dumps(dtypes, ensure_ascii=False),
    }


def _file_option(inputs: Dict[str, Any], key: str, default: Any) -> Any:
    if inputs.get(key) is not None:
        return inputs[key]
    nested = inputs.get("file") or {}
    if isinstance(nested, dict) and nested.get(key) is not None:
        return nested[key]
    return default


def run_db_extract_stream(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    import csv

    need_inputs("db_extract_stream", inputs, ("resource", "sql", "output"))
    fmt = str(inputs.get("format") or "tsv").lower()
    if fmt not in ("tsv", "csv", "jsonl"):
        raise StepError(
            "db_extract_stream: unsupported format %r (tsv, csv or jsonl)" % fmt
        )
    fetch_size = to_int(inputs.get("fetch_size", 5000), "fetch_size")
    include_header = to_bool(inputs.get("include_header", True), "include_header")
    emit_dtypes = to_bool(inputs.get("emit_dtypes", False), "emit_dtypes")
    dtypes = inputs.get("dtypes") or inputs.get("dtypes_json")
    if isinstance(dtypes, str):
        dtypes = json.loads(dtypes)
    columns, rows, types = _db(ctx, inputs).fetchmany(
        str(inputs["sql"]), _params(inputs), fetch_size=fetch_size
    )
    if emit_dtypes and not dtypes:
        dtypes = {str(c): _dtype(t) for c, t in zip(columns, types)}
    path = _output(ctx, inputs)
    tmp = path + ".tmp"
    count = 0
    try:
        encoding = str(_file_option(inputs, "encoding", "utf-8"))
        with open(tmp, "w", encoding=encoding, newline="") as fh:
            if fmt == "jsonl":
                for row in rows:
                    record = {
                        columns[i]: _json_safe(row[i]) for i in range(len(columns))
                    }
                    fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
                    count += 1
            else:
                quoting = {
                    "minimal": csv.QUOTE_MINIMAL,
                    "all": csv.QUOTE_ALL,
                    "none": csv.QUOTE_NONE,
                    "nonnumeric": csv.QUOTE_NONNUMERIC,
                }
                writer = csv.writer(
                    fh,
                    delimiter=str(
                        _file_option(inputs, "delimiter", "\t" if fmt == "tsv" else ",")
                    ),
                    quotechar=str(_file_option(inputs, "quotechar", '"')),
                    escapechar=_file_option(inputs, "escapechar", None),
                    doublequote=to_bool(
                        _file_option(inputs, "doublequote", True), "doublequote"
                    ),
                    quoting=quoting.get(
                        str(_file_option(inputs, "quoting", "minimal")).lower(),
                        csv.QUOTE_MINIMAL,
                    ),
                    lineterminator=str(_file_option(inputs, "linefeed", "\n")),
                )
                if include_header and columns:
                    writer.writerow(columns)
                for row in rows:
                    writer.writerow(["" if v is None else str(v) for v in row])
                    count += 1
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    digest = new_sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    result: Dict[str, Any] = {
        "artifact_path": path,
        "format": fmt,
        "columns": columns,
        "row_count": count,
        "sha256": digest.hexdigest(),
    }
    if emit_dtypes and dtypes:
        result["dtypes"] = dtypes
        result["dtypes_json"] = json.dumps(dtypes, ensure_ascii=False)
    return result
