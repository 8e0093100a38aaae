"""excel_validate_template, excel_fill_small and excel_fill_from_file in compiled artifacts:
real templates made with openpyxl, real runs, and the written workbooks read back."""

from __future__ import annotations

import datetime
import json
import sqlite3
import subprocess
import textwrap
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName

from conftest import Project, statuses

YELLOW = "FFFFFF00"
WRITTEN = {"written": "{{result.written}}"}  # a step's outputs: what it wrote
BLUE = "FFDDEBF7"


def _template(path: Path) -> Path:
    """Report: a title, an anchor marker (A3) over a styled header (row 4) and a sample
    row (row 5), a footer (A7) and a defined name SUMMARY (F2). Notes: anchor text with a
    no-break space. Data: empty."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Report"
    ws["A1"] = "Sales report"
    ws["A3"] = "ORDERS_ANCHOR"
    thin = Side(style="thin")
    for j, (title, fmt) in enumerate([("ID", "0"), ("NAME", "@"), ("AMOUNT", "#,##0.00")]):
        head = ws.cell(row=4, column=1 + j, value=title)
        head.font = Font(name="Arial", bold=True, color="FF1F4E79")
        head.fill = PatternFill("solid", start_color=YELLOW)
        sample = ws.cell(row=5, column=1 + j)
        sample.font = Font(name="Calibri", italic=True)
        sample.fill = PatternFill("solid", start_color=BLUE)
        sample.border = Border(bottom=thin)
        sample.number_format = fmt
    ws["A7"] = "Footer"
    ws["F2"] = "old summary"
    wb.defined_names["SUMMARY"] = DefinedName("SUMMARY", attr_text="Report!$F$2")
    wb.create_sheet("Notes")["B2"] = "  totals\u00a0 here "
    wb.create_sheet("Data")
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _flow(project: Project, flow_id: str, *jobs: dict, resources: str = "") -> None:
    """Write and compile a flow of `jobs`, each written as one line of JSON (YAML reads it)."""
    text = project.header(flow_id)
    if resources:
        text += "resources:\n" + textwrap.indent(textwrap.dedent(resources), "  ")
    text += "jobs:\n" + "".join(f"  - {json.dumps(job, ensure_ascii=False)}\n" for job in jobs)
    project.write_flow(f"{flow_id}.yaml", text)
    project.compile()


def _job(*steps: dict, job_id: str = "report", **extra: object) -> dict:
    return {"id": job_id, **extra, "steps": list(steps)}


def _fill(
    step_type: str,
    tpl: Path,
    output: str,
    targets: list,
    outputs: dict | None = None,
    step_id: str = "fill",
    **more: object,
) -> dict:
    """A step of an Excel writer: the template, the output and the targets."""
    inputs = {"template_path": str(tpl), "output": output, **more, "targets": targets}
    return _step(step_type, inputs, outputs, step_id)


def _check(
    tpl: Path, required: list, outputs: dict | None = None, step_id: str = "check", **more: object
) -> dict:
    """An excel_validate_template step."""
    inputs = {"template_path": str(tpl), **more, "required_names": required}
    return _step("excel_validate_template", inputs, outputs, step_id)


def _step(step_type: str, inputs: dict, outputs: dict | None = None, step_id: str = "fill") -> dict:
    step = {"id": step_id, "type": step_type, "inputs": inputs}
    return {**step, "outputs": outputs} if outputs else step


def _run(
    project: Project,
    flow_id: str,
    *extra: str,
    run_id: str = "r1",
    check_exit: int = 0,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return project.run(
        flow_id,
        "run",
        "--run-id",
        run_id,
        *extra,
        host_packages=True,
        env=env,
        check_exit=check_exit,
    )


def _outputs(project: Project, flow_id: str) -> dict:
    return project.status(flow_id, "r1")["jobs"]["report"]["outputs"]


@pytest.fixture
def tpl(project: Project) -> Path:
    return _template(project.work / "in" / "tpl.xlsx")


def _artifacts(project: Project, flow_id: str, job: str = "report", run_id: str = "r1") -> Path:
    return project.work / flow_id / job / run_id / "artifacts"


def _values(ws: openpyxl.worksheet.worksheet.Worksheet, cells: str) -> list[list[object]]:
    return [[c.value for c in row] for row in ws[cells]]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- excel_validate_template ----------------------------------------------------------


def test_validate_finds_defined_names_and_anchor_text(project: Project, tpl: Path) -> None:
    found = {
        "ok": "{{result.template_ok}}",
        "named": "{{result.found_named_ranges}}",
        "anchors": "{{result.found_anchor_cells}}",
    }
    _flow(project, "v", _job(_check(tpl, ["SUMMARY", "ORDERS_ANCHOR", "totals here"], found)))
    _run(project, "v")
    outputs = _outputs(project, "v")
    assert outputs == {
        "ok": True,
        "named": ["SUMMARY"],
        "anchors": ["ORDERS_ANCHOR", "totals here"],
    }


def test_validate_fails_the_job_naming_what_is_missing(project: Project, tpl: Path) -> None:
    _flow(
        project,
        "v",
        _job(_check(tpl, ["SUMMARY", "NOPE", "totals here"], sheet="Report")),
        _job(
            _step("external.process", {"command": ["true"]}, step_id="e"),
            job_id="after",
            depends_on=["report"],
        ),
    )
    proc = _run(project, "v", check_exit=1)
    # `sheet` limits the anchor text search: "totals here" is on Notes.
    assert (
        "Template missing named ranges or anchor cells: ['NOPE', 'totals here'] "
        "['SUMMARY', 'NOPE', 'totals here']" in proc.stderr
    )
    # The run stops there: later jobs are not reached, as with the engine.
    assert statuses(project.status("v", "r1")) == {"report": ("FAILED", {"check": "FAILED"})}
    assert "NOT_REACHED" in proc.stderr


def test_validate_runs_in_a_single_file_artifact(project: Project, tpl: Path) -> None:
    project.write_flow(
        "solo.yaml",
        project.header("solo") + textwrap.dedent(f"""\
        jobs:
          - id: report
            steps:
              - id: check
                type: excel_validate_template
                inputs: {{template_path: {str(tpl)!r}, required_names: [SUMMARY]}}
        """),
    )
    project.compile("--single-file")
    _run(project, "solo")


# --- excel_fill_small -----------------------------------------------------------------


def test_fill_small_at_a_defined_name_a_sheet_cell_and_anchor_text(
    project: Project, tpl: Path
) -> None:
    targets = [
        {
            "name": "summary",
            "anchor": "SUMMARY",
            "header_mode": "override",
            "columns_json": '["k", "v"]',
            "rows_json": '[[1, "x"], [2, "y"]]',
        },
        {"name": "cell", "cell": "Data!B2", "rows_json": '[["a", 1.5], ["b", null]]'},
        {
            "name": "orders",
            "anchor": "orders_anchor",
            "insert": "below",
            "rows_json": '[[10, "Ada", 12.5], [11, "Boé", 3], [12, "Cy", 7.25]]',
        },
        {"name": "notes", "anchor": "TOTALS HERE", "sheet": "Notes", "rows_json": "[[42]]"},
    ]
    _flow(
        project,
        "s",
        _job(
            _fill(
                "excel_fill_small",
                tpl,
                "out/report.xlsx",
                targets,
                {"written": "{{result.written}}", "output": "{{result.output}}"},
            )
        ),
    )
    _run(project, "s")
    out = _artifacts(project, "s") / "out" / "report.xlsx"
    wb = openpyxl.load_workbook(out)
    report = wb["Report"]
    # The defined name is the block's first cell: the header replaces the old text there.
    assert _values(report, "F2:G4") == [["k", "v"], [1, "x"], [2, "y"]]
    assert report["F2"].font.b is False
    # "Data!B2": a cell reference, written as given.
    assert _values(wb["Data"], "B2:C3") == [["a", 1.5], ["b", None]]
    # Anchor text (any case): the marker row, the template's header row below it kept in
    # place with its style, rows inserted under it, the footer pushed down.
    assert report["A3"].value == "ORDERS_ANCHOR"
    assert _values(report, "A4:C4") == [["ID", "NAME", "AMOUNT"]]
    assert report["A4"].font.b and report["A4"].font.name == "Arial"
    assert report["B4"].fill.fgColor.rgb == YELLOW
    assert _values(report, "A5:C7") == [[10, "Ada", 12.5], [11, "Boé", 3], [12, "Cy", 7.25]]
    assert report["C8"].number_format == "#,##0.00", "the sample row moved down with the rest"
    assert report["A10"].value == "Footer"
    # Anchor text with a no-break space and extra spaces, searched on the given sheet.
    assert wb["Notes"]["B4"].value == 42 and wb["Notes"]["B3"].value is None
    outputs = _outputs(project, "s")
    assert outputs["output"] == str(out)
    common = {"header_style": "template", "type_cast": "none", "style_mode": "none"}
    assert outputs["written"] == [
        {
            "name": "summary",
            "sheet": "Report",
            "rows": 3,
            "cols": 2,
            "insert": "replace",
            "header_mode": "override",
            **common,
            "start_cell": [2, 6],
            "template_has_header": False,
        },
        {
            "name": "cell",
            "sheet": "Data",
            "rows": 2,
            "cols": 2,
            "insert": "replace",
            "header_mode": "template",
            **common,
            "start_cell": [2, 2],
            "template_has_header": False,
        },
        {
            "name": "orders",
            "sheet": "Report",
            "rows": 4,
            "cols": 3,
            "insert": "below",
            "header_mode": "template",
            **common,
            "start_cell": [4, 1],
            "template_has_header": True,
        },
        {
            "name": "notes",
            "sheet": "Notes",
            "rows": 2,
            "cols": 1,
            "insert": "replace",
            "header_mode": "template",
            **common,
            "start_cell": [3, 2],
            "template_has_header": True,
        },
    ]
    assert not list(out.parent.glob("*.tmp"))


def test_fill_small_copies_the_style_row_and_casts_with_dtypes(project: Project, tpl: Path) -> None:
    targets = [
        {
            "name": "orders",
            "anchor": "ORDERS_ANCHOR",
            "anchor_clear": True,
            "style_mode": "copy_row",
            "columns_json": '["id", "name", "amount"]',
            "rows_json": '[["1", "Ada", "12.5"], ["2", "", "x"]]',
            "dtypes": {"id": "int", "amount": "float"},
        },
        {
            "name": "guess",
            "cell": "Data!A1",
            "type_cast": "basic",
            "rows_json": '[["007", "42", "true", "1e3", "2024-01-02", "n/a"]]',
        },
    ]
    _flow(project, "s", _job(_fill("excel_fill_small", tpl, "styled.xlsx", targets, WRITTEN)))
    _run(project, "s")
    wb = openpyxl.load_workbook(_artifacts(project, "s") / "styled.xlsx")
    report = wb["Report"]
    assert report["A3"].value is None, "anchor_clear removed the marker text"
    # Rows replace the sample row (5) and the row below, in the sample row's style.
    assert _values(report, "A5:C6") == [[1, "Ada", 12.5], [2, None, "x"]]
    for row in (5, 6):
        assert report.cell(row=row, column=3).number_format == "#,##0.00"
        assert (
            report.cell(row=row, column=2).font.i
            and report.cell(row=row, column=2).fill.fgColor.rgb == BLUE
        )
    assert _values(wb["Data"], "A1:F1") == [
        ["007", 42, True, 1000.0, datetime.datetime(2024, 1, 2), "n/a"]
    ]
    written = _outputs(project, "s")["written"]
    assert [(w["type_cast"], w["style_mode"]) for w in written] == [
        ("schema", "copy_row"),
        ("basic", "none"),
    ]


def test_fill_small_from_db_fetch_small_rows(project: Project, tpl: Path) -> None:
    db = project.root / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders(id INTEGER, customer TEXT, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?)", [(1, "Ada", 12.5), (2, "Boé", None)])
    fetch = _step(
        "db_fetch_small",
        {"resource": "shop", "sql": "SELECT id, customer, amount FROM orders ORDER BY id"},
        step_id="fetch",
    )
    target = {
        "name": "orders",
        "anchor": "ORDERS_ANCHOR",
        "insert": "below",
        "header_mode": "override",
        "rows_json": "{{steps.fetch.rows_json}}",
        "columns_json": "{{steps.fetch.columns_json}}",
        "dtypes_json": "{{steps.fetch.dtypes_json}}",
        "row_count": "{{steps.fetch.row_count}}",
        "max_rows": 10,
    }
    fill = _fill("excel_fill_small", tpl, "db.xlsx", [target])
    _flow(
        project,
        "s",
        _job(fetch, fill),
        resources=f"shop: {{kind: db, driver: sqlite3, config: {{path: {str(db)!r}}}}}\n",
    )
    _run(project, "s")
    report = openpyxl.load_workbook(_artifacts(project, "s") / "db.xlsx")["Report"]
    # override: the columns replace the template's header text, its formatting stays.
    assert _values(report, "A4:C6") == [
        ["id", "customer", "amount"],
        [1, "Ada", 12.5],
        [2, "Boé", None],
    ]
    assert report["A4"].fill.fgColor.rgb == YELLOW
    assert report["A9"].value == "Footer"


@pytest.mark.parametrize(
    ("target", "env", "message"),
    [
        (
            {"anchor": "NOT_THERE", "rows_json": "[[1]]"},
            {},
            "Excel anchor not found: 'NOT_THERE'. Workbook sheets=['Report', 'Notes', 'Data'].",
        ),
        (
            {"anchor": "SUMMARY", "cell": "A1", "rows_json": "[[1]]"},
            {},
            "excel_fill_small target=target: must set exactly one of anchor OR cell",
        ),
        (
            {"cell": "B2", "rows_json": "[[1]]"},
            {},
            "Excel target requires sheet when using cell like 'A1' (set sheet or use 'Sheet!A1')",
        ),
        (
            {"cell": "Data!A1", "rows_json": "[[1], [2], [3]]", "max_rows": 2},
            {},
            "excel_fill_small target=target: data rows exceed max_rows=2",
        ),
        (
            {"cell": "Data!A1", "rows_json": "[[1, 2]"},
            {},
            "excel_fill_small target=target: rows_json must be valid JSON",
        ),
        (
            {"anchor": "ORDERS_ANCHOR", "rows_json": "[[1]]"},
            {"AETHERFLOW_MODE_ENTERPRISE": "true"},
            "Excel anchor text search requires 'sheet' in enterprise mode. Use named range or set sheet.",
        ),
    ],
)
def test_fill_small_refusals_fail_the_job_and_write_nothing(
    project: Project, tpl: Path, target: dict, env: dict[str, str], message: str
) -> None:
    _flow(project, "s", _job(_fill("excel_fill_small", tpl, "out.xlsx", [target])))
    proc = _run(project, "s", env=env, check_exit=1)
    assert message in proc.stderr
    assert sorted(p.name for p in _artifacts(project, "s").iterdir()) == []


def test_fill_small_enterprise_mode_with_a_sheet_or_a_defined_name(
    project: Project, tpl: Path
) -> None:
    targets = [
        {"anchor": "ORDERS_ANCHOR", "sheet": "Report", "rows_json": "[[1]]"},
        {"anchor": "SUMMARY", "rows_json": "[[2]]"},
    ]
    _flow(project, "s", _job(_fill("excel_fill_small", tpl, "out.xlsx", targets)))
    _run(project, "s", env={"AETHERFLOW_MODE_ENTERPRISE": "1"})
    report = openpyxl.load_workbook(_artifacts(project, "s") / "out.xlsx")["Report"]
    assert (report["A5"].value, report["F2"].value) == (1, 2)


def test_overlapping_targets_fail(project: Project, tpl: Path) -> None:
    targets = [
        {"name": "a", "cell": "Data!A1", "rows_json": "[[1, 2], [3, 4]]"},
        {"name": "b", "cell": "Data!B2", "rows_json": "[[5]]"},
    ]
    _flow(project, "s", _job(_fill("excel_fill_small", tpl, "out.xlsx", targets)))
    proc = _run(project, "s", check_exit=1)
    assert (
        "excel_fill_small targets overlap: name=b sheet=Data rect=('Data', 2, 2, 2, 2) "
        "prev=('Data', 1, 1, 2, 2)" in proc.stderr
    )


# --- excel_fill_from_file ---------------------------------------------------------------

# what excel_fill_from_file reports of every target below (of 3 columns, no template header)
FROM_FILE = {
    "cols": 3,
    "header_style": "template",
    "style_mode": "none",
    "template_has_header": False,
}
ORDERS = "id\tname\tamount\n1\tAda\t12.5\n2\tBoé\t3\n3\tCy\t\n"


def test_fill_from_file_data_sheets_from_tsv_and_csv(project: Project, tpl: Path) -> None:
    tsv = _write(project.work / "in" / "orders.tsv", ORDERS)
    csv_ = _write(
        project.work / "in" / "people.csv", 'name,city,n\n"Smith, J",Köln,007\nLee,"a ""b""",1e3\n'
    )
    targets = [
        {"name": "orders", "source_path": str(tsv), "dtypes": {"id": "int", "amount": "float"}},
        {
            "name": "people",
            "source_path": str(csv_),
            "sheet": "Data",
            "cell": "B2",
            "type_cast": "basic",
            "header_bold": False,
        },
    ]
    _flow(project, "f", _job(_fill("excel_fill_from_file", tpl, "out/data.xlsx", targets, WRITTEN)))
    _run(project, "f")
    wb = openpyxl.load_workbook(_artifacts(project, "f") / "out" / "data.xlsx")
    assert wb.sheetnames == ["Report", "Notes", "Data", "DATA_orders"]
    orders = wb["DATA_orders"]
    assert _values(orders, "A1:C4") == [
        ["id", "name", "amount"],
        [1, "Ada", 12.5],
        [2, "Boé", 3.0],
        [3, "Cy", None],
    ]
    assert all(c.font.b for c in orders[1]) and not orders["A2"].font.b
    assert orders.freeze_panes == "A2"
    assert orders.auto_filter.ref == "A1:C4"
    data = wb["Data"]
    assert _values(data, "B2:D4") == [
        ["name", "city", "n"],
        ["Smith, J", "Köln", "007"],
        ["Lee", 'a "b"', 1000.0],
    ]
    assert not data["B2"].font.b and data.freeze_panes == "B3" and data.auto_filter.ref == "B2:D4"
    written = _outputs(project, "f")["written"]
    sheet = {**FROM_FILE, "mode": "data_sheet", "insert": "replace", "header_mode": "append"}
    assert written == [
        {**sheet, "name": "orders", "sheet": "DATA_orders", "rows": 4, "start_cell": [1, 1]},
        {**sheet, "name": "people", "sheet": "Data", "rows": 3, "start_cell": [2, 2]},
    ]


def test_fill_from_file_report_region_inserts_under_the_template_header(
    project: Project, tpl: Path
) -> None:
    csv_ = _write(
        project.work / "in" / "orders.csv", "id,name,amount\n1,Ada,12.5\n2,Boé,3\n3,Cy,7\n"
    )
    two = _write(project.work / "in" / "two.csv", "id,name,amount\n7,Xi,1.5\n8,Yo,2\n")
    region = {"name": "orders", "mode": "report_region", "anchor": "ORDERS_ANCHOR"}
    typed = {**region, "source_path": str(csv_), "dtypes_json": '{"id": "int", "amount": "float"}'}
    below = _fill("excel_fill_from_file", tpl, "below.xlsx", [typed], WRITTEN, "below")
    copied = {
        **region,
        "source_path": str(two),
        "insert": "replace",
        "style_mode": "copy_row",
        "type_cast": "basic",
    }
    styled = _fill("excel_fill_from_file", tpl, "styled.xlsx", [copied], step_id="styled")
    _flow(project, "f", _job(below, styled))
    _run(project, "f")
    report = openpyxl.load_workbook(_artifacts(project, "f") / "below.xlsx")["Report"]
    assert _values(report, "A4:C7") == [
        ["ID", "NAME", "AMOUNT"],
        [1, "Ada", 12.5],
        [2, "Boé", 3.0],
        [3, "Cy", 7.0],
    ]
    assert report["A4"].font.b and report["A4"].fill.fgColor.rgb == YELLOW
    assert report["A10"].value == "Footer"
    written = _outputs(project, "f")["written"]
    expected = {**FROM_FILE, "mode": "report_region", "insert": "below", "header_mode": "template"}
    assert written == [
        {
            **expected,
            "name": "orders",
            "sheet": "Report",
            "rows": 4,
            "start_cell": [4, 1],
            "template_has_header": True,
        }
    ]
    styled_report = openpyxl.load_workbook(_artifacts(project, "f") / "styled.xlsx")["Report"]
    assert _values(styled_report, "A5:C6") == [[7, "Xi", 1.5], [8, "Yo", 2]]
    assert styled_report["C6"].number_format == "#,##0.00" and styled_report["B6"].font.i
    assert styled_report["A7"].value == "Footer"


def test_rows_threshold_guards_report_regions_only(project: Project, tpl: Path) -> None:
    big = _write(
        project.work / "in" / "big.tsv",
        "n\tsquare\n" + "".join(f"{i}\t{i * i}\n" for i in range(1, 121)),
    )

    def job(job_id: str, **target: object) -> dict:
        big_target = {"name": "big", "source_path": str(big), **target}
        fill = _fill("excel_fill_from_file", tpl, "out.xlsx", [big_target], rows_threshold=100)
        return _job(fill, job_id=job_id)

    region = {"mode": "report_region", "anchor": "ORDERS_ANCHOR"}
    _flow(
        project,
        "f",
        job("region", **region),
        job("forced", **region, fail_on_threshold=False),
        job("sheet", dtypes={"n": "int", "square": "int"}),
    )
    proc = _run(project, "f", "--keep-going", check_exit=1)
    assert (
        "excel_fill_from_file target=big: row_count=120 exceeds rows_threshold=100. Use mode=data_sheet "
        "(DATA_*) instead of report_region, or raise rows_threshold." in proc.stderr
    )
    jobs = statuses(project.status("f", "r1"))
    assert {job: status for job, (status, _) in jobs.items()} == {
        "region": "FAILED",
        "forced": "SUCCESS",
        "sheet": "SUCCESS",
    }
    assert not (_artifacts(project, "f", "region") / "out.xlsx").exists()
    forced = openpyxl.load_workbook(_artifacts(project, "f", "forced") / "out.xlsx")["Report"]
    assert _values(forced, "A5:B5") == [["1", "1"]] and _values(forced, "A124:B124") == [
        ["120", "14400"]
    ]
    assert forced["A127"].value == "Footer"
    sheet = openpyxl.load_workbook(_artifacts(project, "f", "sheet") / "out.xlsx")["DATA_big"]
    assert sheet.max_row == 121 and _values(sheet, "A121:B121") == [[120, 14400]]


def test_fill_from_file_reads_header_less_files_with_given_columns(
    project: Project, tpl: Path
) -> None:
    src = _write(project.work / "in" / "rows.txt", "5;five\n6;'s;ix'")
    targets = [
        {
            "name": "raw",
            "source_path": str(src),
            "source_format": "csv",
            "read_header": False,
            "columns": ["n", "w"],
            "dtypes": {"n": "int"},
            "file": {"delimiter": ";", "quotechar": "'"},
        }
    ]
    _flow(project, "f", _job(_fill("excel_fill_from_file", tpl, "out.xlsx", targets)))
    _run(project, "f")
    raw = openpyxl.load_workbook(_artifacts(project, "f") / "out.xlsx")["DATA_raw"]
    assert _values(raw, "A1:B2") == [[5, "five"], [6, "s;ix"]]
    assert raw.freeze_panes is None and raw.auto_filter.ref is None


def test_fill_from_file_refuses_jsonl_like_the_engine(project: Project, tpl: Path) -> None:
    src = _write(project.work / "in" / "rows.jsonl", '{"a": 1}\n')
    _flow(
        project,
        "f",
        _job(_fill("excel_fill_from_file", tpl, "out.xlsx", [{"source_path": str(src)}])),
    )
    proc = _run(project, "f", check_exit=1)
    assert (
        "excel_fill_from_file target=target: Unsupported source_format: jsonl (tsv, csv or parquet)"
        in proc.stderr
    )


# --- output and hosts -------------------------------------------------------------------


def test_the_output_is_replaced_atomically_and_never_left_half_written(
    project: Project, tpl: Path
) -> None:
    final = _write(project.work / "out" / "report.xlsx", "previous report")

    def flow(target: dict) -> None:
        mkdir = _step(
            "external.process", {"command": ["mkdir", "-p", "taken"], "cwd": "."}, step_id="dir"
        )
        fill = _fill("excel_fill_small", tpl, "{{env.OUT}}", [target])
        _flow(project, "a", _job(mkdir, fill))

    flow({"anchor": "NOT_THERE", "rows_json": "[[1]]"})
    _run(project, "a", env={"OUT": str(final)}, check_exit=1)
    assert final.read_text() == "previous report"
    # The output is a directory: the workbook is saved, then cannot be renamed into place.
    flow({"cell": "Data!A1", "rows_json": "[[1]]"})
    proc = _run(project, "a", run_id="r2", env={"OUT": "taken"}, check_exit=1)
    assert "taken" in proc.stderr
    artifacts = _artifacts(project, "a", run_id="r2")
    assert sorted(p.name for p in artifacts.iterdir()) == ["taken"]
    _run(project, "a", run_id="r3", env={"OUT": str(final)})
    assert openpyxl.load_workbook(final)["Data"]["A1"].value == 1
    assert sorted(p.name for p in final.parent.iterdir()) == ["report.xlsx"]


def test_a_host_without_openpyxl_fails_naming_the_package(project: Project, tpl: Path) -> None:
    fill = _fill("excel_fill_small", tpl, "out/x.xlsx", [{"cell": "Data!A1", "rows_json": "[[1]]"}])
    check = _check(tpl, ["SUMMARY"], step_id="v")
    _flow(project, "n", _job(fill), _job(check, job_id="check"))
    proc = project.run(
        "n", "run", "--run-id", "r1", "--keep-going"
    )  # -I -S: the standard library only
    assert proc.returncode == 1
    assert (
        "driver excel needs the Python package 'openpyxl' on this host (pip install openpyxl)"
        in proc.stderr
    )
    jobs = statuses(project.status("n", "r1"))
    assert jobs == {"report": ("FAILED", {"fill": "FAILED"}), "check": ("FAILED", {"v": "FAILED"})}
    assert not (
        _artifacts(project, "n") / "out"
    ).exists(), "nothing is written before openpyxl is found"


def test_manifest_and_check_env_name_openpyxl(project: Project) -> None:
    _flow(project, "x", _job(_check(Path("t.xlsx"), ["A"], step_id="v"), job_id="a"))
    assert json.loads((project.dist / "manifest.json").read_text())["flows"]["x"]["packages"] == [
        "openpyxl"
    ]
    bare = project.run("x", "check-env")
    assert bare.returncode == 2 and "package openpyxl                 MISSING" in bare.stdout
    assert project.run("x", "check-env", host_packages=True).returncode == 0
