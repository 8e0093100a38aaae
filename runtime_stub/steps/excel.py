"""excel_validate_template, excel_fill_small and excel_fill_from_file, as the engine does
them, on openpyxl when the host has it (imported only when such a step runs).

A target is found by a defined name, a cell reference ("Sheet!A1", or "A1" with a sheet)
or the cell whose text equals the anchor. Its block starts on the anchor's row, or on the
row below when the anchor is a marker; when the template keeps a header row there, data
starts one row lower. Values are written into the loaded template, so its formatting
stays; the workbook is saved to a temp file next to the output and renamed into place.
"""

from __future__ import annotations

import json
import os
import re

from .. import TYPE_CHECKING
from ..connectors import require_package
from ..errors import StepError
from ..results import to_int
from . import need_inputs

if TYPE_CHECKING:  # names for annotations only: importing typing slows every start
    from typing import Any, Dict, Iterator, List, Optional, Set, Tuple

    from ..runner import StepContext

_XL_A1 = re.compile(r"^[A-Z]{1,3}[0-9]{1,7}$")
_XL_CELL = re.compile(r"^([A-Z]+)([0-9]+)$")
_XL_SPACES = re.compile(r"\s+")
_XL_FALSE = ("false", "no", "off", "0", "")
_XL_ON = ("1", "true", "yes", "y", "on")
_XL_BOOL_TRUE = ("1", "true", "t", "yes", "y")
_XL_BOOL_FALSE = ("0", "false", "f", "no", "n")
_XL_MAX_SCAN = 10000
_XL_SMALL = "excel_fill_small"
_XL_FILE = "excel_fill_from_file"


# --- inputs ------------------------------------------------------------------------------


def _xl_openpyxl() -> Any:
    return require_package("openpyxl", "openpyxl", "excel")


def _xl_cell_utils() -> Any:
    return require_package("openpyxl.utils.cell", "openpyxl", "excel")


def _xl_flag(value: Any) -> bool:
    """The engine's bool(), except that a templated "false"/"no"/"off"/"0" is false."""
    if isinstance(value, str) and value.strip().lower() in _XL_FALSE:
        return False
    return bool(value)


def _xl_lenient_int(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _xl_json(value: Any) -> Any:
    """A JSON list or object given as a string, parsed; anything else as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if (text[:1], text[-1:]) in (("[", "]"), ("{", "}")):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _xl_enterprise(ctx: StepContext) -> bool:
    env = getattr(ctx, "env", None) or {}
    return str(env.get("AETHERFLOW_MODE_ENTERPRISE", "false")).lower() in _XL_ON


def _xl_debug(ctx: StepContext) -> bool:
    threshold = getattr(getattr(ctx, "log", None), "threshold", None)
    if threshold is None:
        level = str((getattr(ctx, "env", None) or {}).get("AETHERFLOW_LOG_LEVEL", ""))
        return level.upper() == "DEBUG"
    return bool(threshold <= 10)


def _xl_targets(inputs: Dict[str, Any], step: str) -> List[Dict[str, Any]]:
    targets = _xl_json(inputs.get("targets")) or []
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise StepError("%s input 'targets' must be a list of mappings" % step)
    return targets


def _xl_choice(
    t: Dict[str, Any],
    key: str,
    default: str,
    allowed: Tuple[str, ...],
    step: str,
    name: Any,
) -> str:
    value = str(t.get(key) or default).lower()
    if value not in allowed:
        raise StepError("%s target=%s: invalid %s=%s" % (step, name, key, value))
    return value


def _xl_schema(t: Dict[str, Any], step: str, name: Any) -> Tuple[Dict[str, str], str]:
    """(column -> dtype, type_cast) of a target."""
    dtypes = _xl_json(t.get("dtypes")) or _xl_json(t.get("dtypes_json"))
    if dtypes is not None and not isinstance(dtypes, dict):
        raise StepError("%s target=%s: dtypes must be a dict" % (step, name))
    schema = {str(k): str(v) for k, v in (dtypes or {}).items()}
    default = "schema" if schema else "none"
    allowed = ("none", "schema", "basic")
    return schema, _xl_choice(t, "type_cast", default, allowed, step, name)


def _xl_style_options(
    t: Dict[str, Any], step: str, name: Any
) -> Tuple[str, str, int, bool]:
    """(style_mode, style_apply, style_row_offset, clear_style_row) of a target."""
    mode = _xl_choice(t, "style_mode", "none", ("none", "copy_row"), step, name)
    apply = _xl_choice(t, "style_apply", "data", ("data", "header", "both"), step, name)
    offset = to_int(t.get("style_row_offset", 2), "style_row_offset")
    return mode, apply, offset, _xl_flag(t.get("clear_style_row", False))


# --- workbook ----------------------------------------------------------------------------


def _xl_load(openpyxl: Any, path: str, data_only: bool = False) -> Any:
    if not os.path.isfile(path):
        raise StepError("Excel template not found: %s" % path)
    return openpyxl.load_workbook(path, data_only=data_only)


def _xl_output(ctx: StepContext, inputs: Dict[str, Any]) -> str:
    path = ctx.resolve_path(inputs["output"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def _xl_save(wb: Any, path: str) -> None:
    tmp = path + ".tmp"
    try:
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _xl_defined_names(wb: Any) -> Any:
    """The workbook-scoped defined names, by name."""
    names = wb.defined_names
    if hasattr(names, "definedName"):  # openpyxl before 3.1 keeps a list
        return {d.name: d for d in names.definedName if d.localSheetId is None}
    return names


def _xl_is_defined(wb: Any, name: Any) -> bool:
    try:
        return name in _xl_defined_names(wb)
    except TypeError:
        return False


def _xl_sheet(wb: Any, title: Any) -> Any:
    """A worksheet by title (chart sheets have no cells)."""
    for ws in wb.worksheets:
        if ws.title == title:
            return ws
    raise StepError(
        "Excel sheet not found: %s (workbook sheets: %s)" % (title, wb.sheetnames)
    )


def _xl_put(ws: Any, row: int, col: int, value: Any = None) -> Any:
    cell = ws.cell(row=row, column=col)
    cell.value = value
    return cell


def _xl_clear(ws: Any, row: int, col: int, width: int) -> None:
    """Clear the values of `width` cells from (row, col); formatting stays. Cells that
    cannot be written (inside a merged range) are left as they are."""
    for j in range(max(0, width)):
        try:
            _xl_put(ws, row, col + j)
        except (AttributeError, ValueError):
            pass


def _xl_copy_style(src: Any, dst: Any) -> None:
    """Copy the formatting of one cell to another; styling never stops the writing."""
    import copy

    try:
        dst.font = copy.copy(src.font)
        dst.fill = copy.copy(src.fill)
        dst.border = copy.copy(src.border)
        dst.alignment = copy.copy(src.alignment)
        dst.number_format = src.number_format
        dst.protection = copy.copy(src.protection)
    except Exception:  # as the engine: styling is best effort
        pass


def _xl_write_row(
    ws: Any, row: int, col: int, values: List[Any], styles: Optional[List[Any]]
) -> None:
    for j, value in enumerate(values):
        cell = _xl_put(ws, row, col + j, value)
        if styles is not None and j < len(styles):
            _xl_copy_style(styles[j], cell)


def _xl_bold_row(
    ctx: StepContext, ws: Any, row: int, col: int, width: int, name: Any
) -> None:
    """Make a header row bold on top of the fonts it has."""
    import copy

    for j in range(width):
        cell = ws.cell(row=row, column=col + j)
        try:
            font = copy.copy(cell.font) if cell.font is not None else None
            if font is None:
                font = require_package("openpyxl.styles", "openpyxl", "excel").Font()
            font.bold = True
            cell.font = font
        except Exception as exc:  # as the engine: a warning only
            ctx.log.warning(
                "excel_header_bold_failed", target=str(name), error=str(exc)
            )


# --- locating a target -------------------------------------------------------------------


def _xl_norm(value: Any) -> str:
    """Text as anchors are compared: NBSP as space, trimmed, whitespace runs as one space."""
    text = "" if value is None else str(value)
    return _XL_SPACES.sub(" ", text.replace("\u00a0", " ").strip())


def _xl_is_a1(text: str) -> bool:
    return bool(_XL_A1.match(_xl_norm(text).replace("$", "").upper()))


def _xl_split_ref(text: Any) -> Tuple[Optional[str], str]:
    """ "Sheet!A1" -> ("Sheet", "A1"); "A1" -> (None, "A1")."""
    text = _xl_norm(text)
    if "!" in text:
        sheet, ref = text.split("!", 1)
        return _xl_norm(sheet) or None, _xl_norm(ref)
    return None, text


def _xl_named_start(wb: Any, name: str) -> Optional[Tuple[Any, int, int]]:
    """The first cell of a defined name's first usable destination."""
    defined = _xl_defined_names(wb).get(name)
    if defined is None:
        return None
    for title, coord in defined.destinations:
        if title not in wb.sheetnames:
            continue
        first = str(coord).split(":", 1)[0].replace("$", "").strip().upper()
        match = _XL_CELL.match(first)
        if match:
            col = _xl_cell_utils().column_index_from_string(match.group(1))
            return wb[title], int(match.group(2)), int(col)
    return None


def _xl_cell_ref(
    wb: Any, default_sheet: Any, sheet: Optional[str], ref: str
) -> Tuple[Any, int, int]:
    ref = _xl_norm(ref).replace("$", "").upper()
    if not _XL_A1.match(ref):
        raise StepError("Invalid Excel cell reference: %s" % ref)
    if sheet is None:
        if not default_sheet:
            raise StepError(
                "Excel target requires sheet when using cell like 'A1' "
                "(set sheet or use 'Sheet!A1')"
            )
        sheet = default_sheet
    ws = _xl_sheet(wb, sheet)
    row, col = _xl_cell_utils().coordinate_to_tuple(ref)
    return ws, int(row), int(col)


def _xl_find_text(
    wb: Any, text: str, only_sheet: Any, enterprise: bool
) -> Optional[Tuple[Any, int, int]]:
    """The first cell (row by row, sheet by sheet) whose text equals `text`, ignoring case."""
    needle = _xl_norm(text).upper()
    if not needle:
        return None
    if enterprise and not only_sheet:
        raise StepError(
            "Excel anchor text search requires 'sheet' in enterprise mode. "
            "Use named range or set sheet."
        )
    sheets = [ws for ws in wb.worksheets if only_sheet and ws.title == only_sheet]
    scanned = 0
    for ws in sheets or wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                scanned += 1
                if scanned > _XL_MAX_SCAN:
                    raise StepError(
                        "Excel anchor search exceeded max_cells=%d. "
                        "Use named range or specify sheet." % _XL_MAX_SCAN
                    )
                if cell.value is not None and _xl_norm(cell.value).upper() == needle:
                    return ws, int(cell.row), int(cell.column)
    return None


def _xl_anchor_sample(wb: Any) -> List[str]:
    """Up to 20 cells that look like anchors, for the "anchor not found" error (DEBUG)."""
    found: List[str] = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is None:
                    continue
                text = str(cell.value)
                if "ANCHOR" in text.upper():
                    found.append("%s!%s=%r" % (ws.title, cell.coordinate, text))
                if len(found) >= 20:
                    return found
    return found


def _xl_locate(
    wb: Any, sheet: Any, anchor: Any, cell: Any, enterprise: bool, debug: bool
) -> Tuple[Any, int, int]:
    """(worksheet, row, column) of a target: an anchor is tried as a defined name, then
    as a cell reference, then as the text of a cell; else `cell` is a cell reference."""
    if anchor:
        text = _xl_norm(anchor)
        hit = _xl_named_start(wb, text)
        if hit is not None:
            return hit
        ref_sheet, ref = _xl_split_ref(text)
        if _xl_is_a1(ref):
            return _xl_cell_ref(wb, sheet, ref_sheet, ref)
        hit = _xl_find_text(wb, text, sheet, enterprise)
        if hit is not None:
            return hit
        sample = _xl_anchor_sample(wb) if debug else []
        raise StepError(
            "Excel anchor not found: %r. Workbook sheets=%s. ANCHOR-like cells(sample)=%s"
            % (text, wb.sheetnames, sample)
        )
    if not cell:
        raise StepError(
            "Excel target requires either anchor (named range / anchor text) or cell"
        )
    ref_sheet, ref = _xl_split_ref(cell)
    return _xl_cell_ref(wb, sheet, ref_sheet, ref)


def _xl_layout(
    wb: Any, t: Dict[str, Any], anchor: Any, anchor_row: int, marker_default: bool
) -> Tuple[bool, int, bool]:
    """(anchor_is_marker, first row of the block, template_has_header). By default an
    anchor found by text (not a defined name) is a marker row with the template's header
    row below it, when `marker_default` allows it."""
    if "anchor_is_marker" in t:
        marker = _xl_flag(t["anchor_is_marker"])
    else:
        marker = bool(anchor) and marker_default and not _xl_is_defined(wb, anchor)
    first_row = anchor_row + (1 if marker else 0)
    if "template_has_header" in t:
        has_header = _xl_flag(t["template_has_header"])
    else:
        has_header = bool(anchor) and marker_default and marker
    return marker, first_row, has_header


def _xl_clear_anchor(
    ws: Any, t: Dict[str, Any], row: int, col: int, step: str, name: Any
) -> None:
    """anchor_clear: remove the marker text (the cell, or `anchor_clear_width` cells)."""
    mode = _xl_choice(t, "anchor_clear_mode", "cell", ("cell", "row"), step, name)
    if mode == "cell":
        _xl_put(ws, row, col)
    else:
        _xl_clear(ws, row, col, _xl_lenient_int(t.get("anchor_clear_width"), 1))


def _xl_claim(
    rects: List[Tuple[Any, ...]],
    step: str,
    name: Any,
    ws: Any,
    row: int,
    col: int,
    rows: int,
    cols: int,
) -> None:
    """Refuse a target whose block overlaps an earlier target's block on the same sheet."""
    rect = (ws.title, row, col, row + max(0, rows - 1), col + max(0, cols - 1))
    for prev in rects:
        if prev[0] != rect[0]:
            continue
        apart = (
            rect[3] < prev[1]
            or prev[3] < rect[1]
            or rect[4] < prev[2]
            or prev[4] < rect[2]
        )
        if not apart:
            raise StepError(
                "%s targets overlap: name=%s sheet=%s rect=%s prev=%s"
                % (step, name, ws.title, rect, prev)
            )
    rects.append(rect)


# --- casting -----------------------------------------------------------------------------


def _xl_iso_date(text: str) -> Any:
    import datetime

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def _xl_iso_datetime(text: str) -> Any:
    import datetime

    if text.endswith("Z"):
        text = text[:-1]
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None


def _xl_convert(convert: Any, text: str) -> Any:
    try:
        return convert(text)
    except ValueError:
        return text


def _xl_cast_value(value: Any, dtype: str) -> Any:
    """A value as `dtype` (string, int, float, bool, date, datetime); text that does not
    parse stays text, "" becomes empty, numbers and dates pass as they are."""
    import datetime

    if value is None:
        return None
    if isinstance(value, (int, float, bool, datetime.date, datetime.datetime)):
        return value
    text = str(value)
    if text == "":
        return None
    kind = (dtype or "string").lower()
    if kind == "int":
        return _xl_convert(int, text)
    if kind == "float":
        return _xl_convert(float, text)
    if kind == "bool":
        word = text.strip().lower()
        if word in _XL_BOOL_TRUE:
            return True
        if word in _XL_BOOL_FALSE:
            return False
        return text
    if kind in ("date", "datetime"):
        parsed = _xl_iso_date(text) if kind == "date" else _xl_iso_datetime(text)
        return text if parsed is None else parsed
    return text


def _xl_guess(value: Any) -> Any:
    """type_cast basic: bool, int, float, datetime, date or text, in that order."""
    text = "" if value is None else str(value)
    if text == "":
        return None
    word = text.strip().lower()
    if word in ("true", "false", "1", "0"):
        return _xl_cast_value(text, "bool")
    if text.isdigit() and (text == "0" or not text.startswith("0")):
        return _xl_cast_value(text, "int")
    if "." in text or "e" in word:
        try:
            return float(text)
        except ValueError:
            pass
    parsed = _xl_iso_datetime(text)
    if parsed is None:
        parsed = _xl_iso_date(text)
    return text if parsed is None else parsed


def _xl_cast_row(
    row: List[Any], columns: Optional[List[Any]], type_cast: str, schema: Dict[str, str]
) -> List[Any]:
    if type_cast == "none":
        return row
    if type_cast == "basic":
        return [_xl_guess(v) for v in row]
    if not schema or not columns:
        return row
    out = []
    for index, value in enumerate(row):
        column = columns[index] if index < len(columns) else None
        dtype = "string" if column is None else schema.get(str(column), "string")
        out.append(_xl_cast_value(value, dtype))
    return out


# --- excel_validate_template ---------------------------------------------------------


def _xl_required_names(value: Any) -> List[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, list):
        raise StepError("required_names must be a list of strings %s" % (value,))
    return value


def _xl_sheet_texts(wb: Any, sheet: Any) -> Set[str]:
    """The normalized text of every string cell (of `sheet`, when given)."""
    sheets = [_xl_sheet(wb, sheet)] if sheet else wb.worksheets
    texts: Set[str] = set()
    for ws in sheets:
        for row in ws.iter_rows(values_only=True):
            texts.update(_xl_norm(v) for v in row if isinstance(v, str))
    return texts


def _xl_sorted(values: List[Any]) -> List[Any]:
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def run_excel_validate_template(
    ctx: StepContext, inputs: Dict[str, Any]
) -> Dict[str, Any]:
    need_inputs("excel_validate_template", inputs, ("template_path", "required_names"))
    openpyxl = _xl_openpyxl()
    wb = _xl_load(openpyxl, ctx.resolve_path(inputs["template_path"]), data_only=True)
    names = set(_xl_defined_names(wb).keys())
    sheet = inputs.get("sheet")
    if sheet and sheet not in wb.sheetnames:
        raise StepError("Sheet not found: %s" % sheet)
    texts = _xl_sheet_texts(wb, sheet)
    required = _xl_required_names(inputs["required_names"])
    named: List[Any] = []
    anchors: List[Any] = []
    missing: List[Any] = []
    for item in required:
        try:
            is_name = item in names
        except TypeError:
            raise StepError(
                "required_names must be a list of strings %s" % (required,)
            ) from None
        if is_name:
            named.append(item)
        elif _xl_norm(item) in texts:
            anchors.append(item)
        else:
            missing.append(item)
    if missing:
        raise StepError(
            "Template missing named ranges or anchor cells: %s %s" % (missing, required)
        )
    return {
        "template_ok": True,
        "found_named_ranges": _xl_sorted(named),
        "found_anchor_cells": _xl_sorted(anchors),
    }


# --- excel_fill_small ----------------------------------------------------------------


def _xl_listed(value: Any, what: str, name: Any) -> List[Any]:
    try:
        return list(value)
    except TypeError:
        raise StepError(
            "%s target=%s: %s must be a JSON list" % (_XL_SMALL, name, what)
        ) from None


def _xl_small_rows(
    t: Dict[str, Any], name: Any
) -> Tuple[List[List[Any]], Optional[List[Any]]]:
    """(data rows, header row or None) of a target from rows_json and columns_json."""
    rows = _xl_json(t.get("rows_json"))
    columns = (
        _xl_json(t.get("columns_json")) if t.get("columns_json") is not None else None
    )
    if isinstance(rows, str):
        raise StepError(
            "%s target=%s: rows_json must be valid JSON" % (_XL_SMALL, name)
        )
    if columns is not None and isinstance(columns, str):
        raise StepError(
            "%s target=%s: columns_json must be valid JSON" % (_XL_SMALL, name)
        )
    data = [
        _xl_listed(row, "each row of rows_json", name)
        for row in _xl_listed(rows or [], "rows_json", name)
    ]
    return data, (_xl_listed(columns, "columns_json", name) if columns else None)


def _xl_check_limit(
    t: Dict[str, Any], key: str, count: int, what: str, name: Any
) -> None:
    limit = t.get(key)
    if limit is not None and count > to_int(limit, key):
        raise StepError(
            "%s target=%s: %s exceed %s=%s" % (_XL_SMALL, name, what, key, limit)
        )


def _xl_fill_small_target(
    wb: Any,
    t: Dict[str, Any],
    rects: List[Tuple[Any, ...]],
    enterprise: bool,
    debug: bool,
) -> Dict[str, Any]:
    step = _XL_SMALL
    name = t.get("name") or "target"
    if t.get("row_count") is not None:  # the declared count, checked before any work
        declared = to_int(t["row_count"], "row_count")
        what = "row_count=%s" % t["row_count"]
        _xl_check_limit(t, "max_rows", declared, what, name)
        _xl_check_limit(t, "max_total_rows", declared, what, name)
    anchor, cell = t.get("anchor"), t.get("cell")
    if bool(anchor) == bool(cell):
        raise StepError(
            "%s target=%s: must set exactly one of anchor OR cell" % (step, name)
        )
    data, header = _xl_small_rows(t, name)
    ws, anchor_row, col = _xl_locate(
        wb, t.get("sheet"), anchor, cell, enterprise, debug
    )
    insert = _xl_choice(t, "insert", "replace", ("below", "replace"), step, name)
    header_mode = _xl_choice(
        t, "header_mode", "template", ("template", "override", "append"), step, name
    )
    header_style = _xl_choice(
        t, "header_style", "template", ("template", "style_row"), step, name
    )
    marker, first_row, has_header = _xl_layout(wb, t, anchor, anchor_row, True)
    if _xl_flag(t.get("anchor_clear", False)) and anchor:
        _xl_clear_anchor(ws, t, anchor_row, col, step, name)

    schema, type_cast = _xl_schema(t, step, name)
    data = [_xl_cast_row(row, header, type_cast, schema) for row in data]
    writes_header = header_mode in ("override", "append") and header is not None
    block = ([header] if writes_header and header is not None else []) + data
    data_row = first_row + (1 if writes_header or has_header else 0)
    _xl_check_limit(t, "max_rows", len(data), "data rows", name)
    _xl_check_limit(t, "max_total_rows", len(block), "total rows", name)
    width = max([len(row) for row in block] or [0])
    _xl_check_limit(t, "max_cols", width, "cols", name)

    if insert == "below":
        if has_header:  # never push the template's header row down
            if data:
                ws.insert_rows(data_row, amount=len(data))
        elif block:
            ws.insert_rows(first_row, amount=len(block))

    style_mode, style_apply, style_offset, clear_style_row = _xl_style_options(
        t, step, name
    )
    styles = None
    style_row = 0
    if style_mode == "copy_row" and width > 0:
        style_row = (anchor_row if marker else first_row) + style_offset
        styles = [ws.cell(row=style_row, column=col + j) for j in range(width)]

    if writes_header and _xl_flag(t.get("header_clear", True)):
        _xl_clear(
            ws, first_row, col, _xl_lenient_int(t.get("header_clear_width"), width)
        )

    total_rows = (1 if writes_header or has_header else 0) + len(data)
    _xl_claim(rects, step, name, ws, first_row, col, total_rows, width)

    if writes_header:
        styled = header_style == "style_row" and style_apply in ("header", "both")
        _xl_write_row(ws, first_row, col, header or [], styles if styled else None)
    data_styles = styles if style_apply in ("data", "both") else None
    for i, row in enumerate(data):
        _xl_write_row(ws, data_row + i, col, row, data_styles)
    if styles is not None and clear_style_row:
        _xl_clear(ws, style_row, col, width)

    return {
        "name": name,
        "sheet": ws.title,
        "rows": total_rows,
        "cols": width,
        "insert": insert,
        "header_mode": header_mode,
        "header_style": header_style,
        "type_cast": type_cast,
        "style_mode": style_mode,
        "start_cell": (first_row, col),
        "template_has_header": has_header,
    }


def run_excel_fill_small(ctx: StepContext, inputs: Dict[str, Any]) -> Dict[str, Any]:
    need_inputs(_XL_SMALL, inputs, ("template_path", "output", "targets"))
    openpyxl = _xl_openpyxl()
    template = ctx.resolve_path(inputs["template_path"])
    output = _xl_output(ctx, inputs)
    wb = _xl_load(openpyxl, template)
    enterprise, debug = _xl_enterprise(ctx), _xl_debug(ctx)
    rects: List[Tuple[Any, ...]] = []
    written = [
        _xl_fill_small_target(wb, t, rects, enterprise, debug)
        for t in _xl_targets(inputs, _XL_SMALL)
    ]
    _xl_save(wb, output)
    return {"output": output, "written": written}


# --- excel_fill_from_file: reading the source --------------------------------------------


def _xl_file_opt(t: Dict[str, Any], key: str, default: Any) -> Any:
    """A read option from the target, or from its nested `file:` mapping."""
    if t.get(key) is not None:
        return t[key]
    nested = t.get("file") or {}
    if isinstance(nested, dict) and nested.get(key) is not None:
        return nested[key]
    return default


def _xl_read_options(t: Dict[str, Any], fmt: str) -> Dict[str, Any]:
    delimiter = _xl_file_opt(t, "delimiter", None)
    if delimiter is None and fmt in ("tsv", "csv"):
        delimiter = "\t" if fmt == "tsv" else ","
    return {
        "encoding": str(_xl_file_opt(t, "encoding", "utf-8")),
        "delimiter": "," if delimiter is None else str(delimiter),
        "quotechar": str(_xl_file_opt(t, "quotechar", '"')),
        "escapechar": _xl_file_opt(t, "escapechar", None),
        "doublequote": _xl_flag(_xl_file_opt(t, "doublequote", True)),
        "quoting": _xl_file_opt(t, "quoting", "minimal"),
        "linefeed": str(_xl_file_opt(t, "linefeed", "\n")),
    }


def _xl_quoting(value: Any, numbers: bool) -> int:
    """A csv quoting constant by name; `numbers`: an integer is the constant itself."""
    import csv

    if numbers and isinstance(value, int):
        return value
    return {
        "minimal": csv.QUOTE_MINIMAL,
        "all": csv.QUOTE_ALL,
        "none": csv.QUOTE_NONE,
        "nonnumeric": csv.QUOTE_NONNUMERIC,
    }.get(str(value).strip().lower(), csv.QUOTE_MINIMAL)


def _xl_csv_reader(fh: Any, opts: Dict[str, Any], quoting: int) -> Any:
    import csv

    return csv.reader(
        fh,
        delimiter=opts["delimiter"],
        quotechar=opts["quotechar"],
        escapechar=opts["escapechar"],
        doublequote=opts["doublequote"],
        quoting=quoting,
    )


def _xl_parquet() -> Any:
    return require_package("pyarrow.parquet", "pyarrow", "parquet")


def _xl_source_rows(
    path: str, fmt: str, read_header: bool, opts: Dict[str, Any]
) -> Iterator[List[Any]]:
    """The records of a source file, one list per row; Parquet starts with the column
    names when `read_header`. Nothing is opened before the first row is asked for."""
    if fmt == "parquet":
        source = _xl_parquet().ParquetFile(path)
        names = list(source.schema.names)
        if read_header and names:
            yield names
        for batch in source.iter_batches():
            table = batch.to_pydict()
            for i in range(len(table[names[0]]) if names else 0):
                yield [table[n][i] for n in names]
        return
    with open(path, "r", encoding=opts["encoding"], newline="") as fh:
        for row in _xl_csv_reader(fh, opts, _xl_quoting(opts["quoting"], False)):
            yield row


def _xl_count_lines(path: str, linefeed: str, encoding: str) -> int:
    """Linefeeds in a file, plus a last line without one (count_mode fast)."""
    if encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32")):
        raise StepError(
            "fast row counting does not support utf-16/utf-32; use count_mode=csv_parse"
        )
    needle = (linefeed or "\n").encode("utf-8")
    count = 0
    tail = buf = b""
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            buf = tail + chunk
            count += buf.count(needle)
            tail = buf[-(len(needle) - 1) :] if len(needle) > 1 else b""
    if buf and not buf.endswith(needle):
        count += 1
    return count


def _xl_count_rows(
    path: str, fmt: str, include_header: bool, count_mode: str, opts: Dict[str, Any]
) -> int:
    """Data rows of a source (report_region's threshold and the rows to insert)."""
    if fmt == "parquet":
        meta = _xl_parquet().ParquetFile(path).metadata
        return int(meta.num_rows) if meta is not None else 0
    mode = (count_mode or "fast").lower()
    if mode == "fast":
        count = _xl_count_lines(path, opts["linefeed"], opts["encoding"])
    elif mode == "csv_parse":
        with open(path, "r", encoding=opts["encoding"], newline="") as fh:
            count = sum(
                1 for _ in _xl_csv_reader(fh, opts, _xl_quoting(opts["quoting"], True))
            )
    else:
        raise StepError("Unsupported count_mode for CSV/TSV: %s" % mode)
    if include_header and count > 0:
        count -= 1
    return max(0, count)


def _xl_given_count(value: Any) -> Optional[int]:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, (int, float)):
        return int(value)
    return None


# --- excel_fill_from_file ------------------------------------------------------------


class _XlFileTarget:
    """A target of excel_fill_from_file with its options read and checked."""

    def __init__(
        self, t: Dict[str, Any], ctx: StepContext, default_threshold: int
    ) -> None:
        step = _XL_FILE
        self.t = t
        self.name = name = t.get("name") or "target"
        if not t.get("source_path"):
            raise StepError("%s target=%s: needs source_path" % (step, name))
        self.source = ctx.resolve_path(t["source_path"])
        suffix = os.path.splitext(os.path.basename(self.source))[1].lstrip(".")
        self.fmt = fmt = str(t.get("source_format") or suffix or "tsv").lower()
        self.mode = _xl_choice(
            t, "mode", "data_sheet", ("data_sheet", "report_region"), step, name
        )
        self.region = self.mode == "report_region"
        if fmt not in ("tsv", "csv", "parquet"):
            raise StepError(
                "%s target=%s: Unsupported source_format: %s (tsv, csv or parquet)"
                % (step, name, fmt)
            )
        if "include_header" in t:  # the engine's older spelling
            self.read_header = _xl_flag(t["include_header"])
            self.header_mode = "append" if self.read_header else "template"
        else:
            self.read_header = _xl_flag(t.get("read_header", True))
            default = "template" if self.region else "append"
            allowed = ("template", "override", "append")
            self.header_mode = _xl_choice(
                t, "header_mode", default, allowed, step, name
            )
        self.header_style = _xl_choice(
            t, "header_style", "template", ("template", "style_row"), step, name
        )
        self.opts = _xl_read_options(t, fmt)
        self.count_mode = str(t.get("count_mode", "fast")).lower()
        self.given_count = _xl_given_count(t.get("row_count"))
        self.threshold = to_int(
            t.get("rows_threshold", default_threshold), "rows_threshold"
        )
        self.schema, self.type_cast = _xl_schema(t, step, name)
        columns = _xl_json(t.get("columns")) or _xl_json(t.get("columns_json"))
        if columns is not None and not isinstance(columns, list):
            raise StepError("%s target=%s: columns must be a list" % (step, name))
        self.columns = columns

    def place(self, wb: Any, enterprise: bool, debug: bool) -> None:
        """Find where the block goes (a data sheet is created when missing)."""
        t, step, name = self.t, _XL_FILE, self.name
        sheet, anchor, cell = t.get("sheet"), t.get("anchor"), t.get("cell")
        if not self.region:
            if not sheet:
                sheet = "%s%s" % (t.get("data_sheet_prefix") or "DATA_", name)
            if sheet not in wb.sheetnames:
                wb.create_sheet(sheet)
            if not anchor and not cell:
                cell = "A1"
        if (anchor or cell) and bool(anchor) == bool(cell):
            raise StepError(
                "%s target=%s: must set exactly one of anchor OR cell" % (step, name)
            )
        self.ws, self.anchor_row, self.col = _xl_locate(
            wb, sheet, anchor, cell, enterprise, debug
        )
        default = "below" if self.region else "replace"
        self.insert = _xl_choice(t, "insert", default, ("below", "replace"), step, name)
        self.marker, self.first_row, self.has_header = _xl_layout(
            wb, t, anchor, self.anchor_row, self.region
        )
        if _xl_flag(t.get("anchor_clear", False)) and anchor:
            _xl_clear_anchor(self.ws, t, self.anchor_row, self.col, step, name)
        self.style = _xl_style_options(t, step, name)

    def data_rows(self) -> int:
        """report_region: the rows to insert, refused above rows_threshold."""
        if self.given_count is not None:
            count = self.given_count
        else:
            header = self.read_header and self.fmt in ("csv", "tsv")
            count = _xl_count_rows(
                self.source, self.fmt, header, self.count_mode, self.opts
            )
        if _xl_flag(self.t.get("fail_on_threshold", True)) and count > self.threshold:
            raise StepError(
                "%s target=%s: row_count=%d exceeds rows_threshold=%d. "
                "Use mode=data_sheet (DATA_*) instead of report_region, or raise rows_threshold."
                % (_XL_FILE, self.name, count, self.threshold)
            )
        return count


def _xl_read_header(
    target: _XlFileTarget, rows: Iterator[List[Any]]
) -> Tuple[Optional[List[Any]], Optional[List[Any]]]:
    """(header row read from the source or None, column names for casting or None)."""
    header = next(rows, None) if target.read_header else None
    if header is not None:
        return header, list(header)
    if target.fmt != "parquet" and target.columns:
        return None, list(target.columns)
    return None, None


def _xl_apply_styles(
    target: _XlFileTarget,
    writes_header: bool,
    data_row: int,
    data_count: int,
    width: int,
) -> None:
    """style_mode copy_row, after writing: the style row's formats onto the block."""
    ws, col = target.ws, target.col
    style_mode, style_apply, offset, clear_style_row = target.style
    if style_mode != "copy_row" or width <= 0:
        return
    style_row = (target.anchor_row if target.marker else target.first_row) + offset
    styles = [ws.cell(row=style_row, column=col + j) for j in range(width)]
    if (
        writes_header
        and target.header_style == "style_row"
        and style_apply in ("header", "both")
    ):
        for j in range(width):
            _xl_copy_style(styles[j], ws.cell(row=target.first_row, column=col + j))
    if data_count > 0 and style_apply in ("data", "both"):
        for i in range(data_count):
            for j in range(width):
                _xl_copy_style(styles[j], ws.cell(row=data_row + i, column=col + j))
    if clear_style_row:
        _xl_clear(ws, style_row, col, width)


def _xl_data_sheet_finish(
    ctx: StepContext,
    target: _XlFileTarget,
    writes_header: bool,
    rows_written: int,
    width: int,
) -> None:
    """data_sheet: freeze panes below the header, an autofilter over the block, a bold header."""
    t, ws, row, col = target.t, target.ws, target.first_row, target.col
    if _xl_flag(t.get("freeze_panes", True)):
        ws.freeze_panes = ws.cell(row=row + (1 if writes_header else 0), column=col)
    if not writes_header:
        return
    if _xl_flag(t.get("autofilter", True)) and rows_written > 0 and width > 0:
        letter = _xl_cell_utils().get_column_letter
        ws.auto_filter.ref = "%s%d:%s%d" % (
            letter(col),
            row,
            letter(col + width - 1),
            row + rows_written - 1,
        )
    if _xl_flag(t.get("header_bold", True)):
        _xl_bold_row(ctx, ws, row, col, width, target.name)


def _xl_fill_file_target(
    ctx: StepContext,
    wb: Any,
    target: _XlFileTarget,
    rects: List[Tuple[Any, ...]],
    enterprise: bool,
    debug: bool,
) -> Dict[str, Any]:
    target.place(wb, enterprise, debug)
    ws, first_row, col = target.ws, target.first_row, target.col
    rows = _xl_source_rows(target.source, target.fmt, target.read_header, target.opts)
    header, columns = _xl_read_header(target, rows)
    type_cast = target.type_cast
    if type_cast == "schema" and target.schema and not columns:
        type_cast = "none"
    writes_header = target.header_mode in ("override", "append") and header is not None
    data_row = first_row + (1 if writes_header or target.has_header else 0)

    if target.region:
        count = target.data_rows()
        if target.insert == "below":
            if target.has_header:  # never push the template's header row down
                if count > 0:
                    ws.insert_rows(data_row, amount=count)
            elif count + (1 if writes_header else 0) > 0:
                ws.insert_rows(first_row, amount=count + (1 if writes_header else 0))

    width = rows_written = 0
    if writes_header:
        header = header or []
        if _xl_flag(target.t.get("header_clear", True)):
            _xl_clear(
                ws,
                first_row,
                col,
                _xl_lenient_int(target.t.get("header_clear_width"), len(header)),
            )
        _xl_write_row(ws, first_row, col, header, None)
        width, rows_written = len(header), 1
    data_count = 0
    for row in rows:
        values = _xl_cast_row(row, columns, type_cast, target.schema)
        width = max(width, len(values))
        _xl_write_row(ws, data_row + data_count, col, values, None)
        data_count += 1
    rows_written += data_count

    _xl_apply_styles(target, writes_header, data_row, data_count, width)
    total_rows = (1 if writes_header or target.has_header else 0) + data_count
    if (
        target.region or target.insert != "replace"
    ):  # a data sheet may be rewritten in place
        _xl_claim(rects, _XL_FILE, target.name, ws, first_row, col, total_rows, width)
    if not target.region:
        _xl_data_sheet_finish(ctx, target, writes_header, rows_written, width)
    return {
        "name": target.name,
        "sheet": ws.title,
        "rows": total_rows,
        "cols": width,
        "mode": target.mode,
        "insert": target.insert,
        "header_mode": target.header_mode,
        "header_style": target.header_style,
        "style_mode": target.style[0],
        "start_cell": (first_row, col),
        "template_has_header": target.has_header,
    }


def run_excel_fill_from_file(
    ctx: StepContext, inputs: Dict[str, Any]
) -> Dict[str, Any]:
    need_inputs(_XL_FILE, inputs, ("template_path", "output", "targets"))
    openpyxl = _xl_openpyxl()
    template = ctx.resolve_path(inputs["template_path"])
    output = _xl_output(ctx, inputs)
    default_threshold = to_int(inputs.get("rows_threshold", 50000), "rows_threshold")
    wb = _xl_load(openpyxl, template)
    enterprise, debug = _xl_enterprise(ctx), _xl_debug(ctx)
    rects: List[Tuple[Any, ...]] = []
    written = []
    for t in _xl_targets(inputs, _XL_FILE):
        target = _XlFileTarget(t, ctx, default_threshold)
        written.append(_xl_fill_file_target(ctx, wb, target, rects, enterprise, debug))
    _xl_save(wb, output)
    return {"output": output, "written": written}
