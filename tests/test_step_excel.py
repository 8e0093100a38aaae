"""excel_validate_template, excel_fill_small and excel_fill_from_file in compiled artifacts:
real templates made with openpyxl, real runs, and the written workbooks read back."""

from __future__ import annotations

import datetime
import json
import sqlite3
import textwrap
from pathlib import Path

import openpyxl
import pytest
from openpyxl.styles import Border, Font, PatternFill, Side
from openpyxl.workbook.defined_name import DefinedName

from conftest import Project, statuses

YELLOW = "FFFFFF00"
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


def _flow(project: Project, flow_id: str, jobs: str, resources: str = "") -> None:
    text = project.header(flow_id)
    if resources:
        text += "resources:\n" + textwrap.indent(textwrap.dedent(resources), "  ")
    project.write_flow(f"{flow_id}.yaml", text + "jobs:\n" + textwrap.indent(textwrap.dedent(jobs), "  "))
    project.compile()


def _artifacts(project: Project, flow_id: str, job: str = "report", run_id: str = "r1") -> Path:
    return project.work / flow_id / job / run_id / "artifacts"


def _values(ws: openpyxl.worksheet.worksheet.Worksheet, cells: str) -> list[list[object]]:
    return [[c.value for c in row] for row in ws[cells]]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- excel_validate_template ----------------------------------------------------------


def test_validate_finds_defined_names_and_anchor_text(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "v", f"""\
        - id: report
          steps:
            - id: check
              type: excel_validate_template
              inputs: {{template_path: {str(tpl)!r}, required_names: [SUMMARY, ORDERS_ANCHOR, "totals here"]}}
              outputs: {{ok: "{{{{result.template_ok}}}}", named: "{{{{result.found_named_ranges}}}}",
                         anchors: "{{{{result.found_anchor_cells}}}}"}}
        """)
    project.run("v", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    outputs = project.status("v", "r1")["jobs"]["report"]["outputs"]
    assert outputs == {"ok": True, "named": ["SUMMARY"], "anchors": ["ORDERS_ANCHOR", "totals here"]}


def test_validate_fails_the_job_naming_what_is_missing(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "v", f"""\
        - id: report
          steps:
            - id: check
              type: excel_validate_template
              inputs: {{template_path: {str(tpl)!r}, required_names: [SUMMARY, NOPE, "totals here"], sheet: Report}}
        - id: after
          depends_on: [report]
          steps:
            - {{id: e, type: external.process, inputs: {{command: ["true"]}}}}
        """)
    proc = project.run("v", "run", "--run-id", "r1", host_packages=True, check_exit=1)
    # `sheet` limits the anchor text search: "totals here" is on Notes.
    assert "Template missing named ranges or anchor cells: ['NOPE', 'totals here'] " \
           "['SUMMARY', 'NOPE', 'totals here']" in proc.stderr
    # The run stops there: later jobs are not reached, as with the engine.
    assert statuses(project.status("v", "r1")) == {"report": ("FAILED", {"check": "FAILED"})}
    assert "NOT_REACHED" in proc.stderr


def test_validate_runs_in_a_single_file_artifact(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    project.write_flow("solo.yaml", project.header("solo") + textwrap.dedent(f"""\
        jobs:
          - id: report
            steps:
              - id: check
                type: excel_validate_template
                inputs: {{template_path: {str(tpl)!r}, required_names: [SUMMARY]}}
        """))
    project.compile("--single-file")
    project.run("solo", "run", "--run-id", "r1", host_packages=True, check_exit=0)


# --- excel_fill_small -----------------------------------------------------------------


def test_fill_small_at_a_defined_name_a_sheet_cell_and_anchor_text(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs:
                template_path: {str(tpl)!r}
                output: out/report.xlsx
                targets:
                  - {{name: summary, anchor: SUMMARY, header_mode: override,
                     columns_json: '["k", "v"]', rows_json: '[[1, "x"], [2, "y"]]'}}
                  - {{name: cell, cell: "Data!B2", rows_json: '[["a", 1.5], ["b", null]]'}}
                  - {{name: orders, anchor: orders_anchor, insert: below,
                     rows_json: '[[10, "Ada", 12.5], [11, "Boé", 3], [12, "Cy", 7.25]]'}}
                  - {{name: notes, anchor: "TOTALS HERE", sheet: Notes, rows_json: '[[42]]'}}
              outputs: {{written: "{{{{result.written}}}}", output: "{{{{result.output}}}}"}}
        """)
    project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=0)
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
    outputs = project.status("s", "r1")["jobs"]["report"]["outputs"]
    assert outputs["output"] == str(out)
    common = {"header_style": "template", "type_cast": "none", "style_mode": "none"}
    assert outputs["written"] == [
        {"name": "summary", "sheet": "Report", "rows": 3, "cols": 2, "insert": "replace", "header_mode": "override",
         **common, "start_cell": [2, 6], "template_has_header": False},
        {"name": "cell", "sheet": "Data", "rows": 2, "cols": 2, "insert": "replace", "header_mode": "template",
         **common, "start_cell": [2, 2], "template_has_header": False},
        {"name": "orders", "sheet": "Report", "rows": 4, "cols": 3, "insert": "below", "header_mode": "template",
         **common, "start_cell": [4, 1], "template_has_header": True},
        {"name": "notes", "sheet": "Notes", "rows": 2, "cols": 1, "insert": "replace", "header_mode": "template",
         **common, "start_cell": [3, 2], "template_has_header": True},
    ]
    assert not list(out.parent.glob("*.tmp"))


def test_fill_small_copies_the_style_row_and_casts_with_dtypes(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs:
                template_path: {str(tpl)!r}
                output: styled.xlsx
                targets:
                  - name: orders
                    anchor: ORDERS_ANCHOR
                    anchor_clear: true
                    style_mode: copy_row
                    columns_json: '["id", "name", "amount"]'
                    rows_json: '[["1", "Ada", "12.5"], ["2", "", "x"]]'
                    dtypes: {{id: int, amount: float}}
                  - {{name: guess, cell: "Data!A1", type_cast: basic,
                     rows_json: '[["007", "42", "true", "1e3", "2024-01-02", "n/a"]]'}}
              outputs: {{written: "{{{{result.written}}}}"}}
        """)
    project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    wb = openpyxl.load_workbook(_artifacts(project, "s") / "styled.xlsx")
    report = wb["Report"]
    assert report["A3"].value is None, "anchor_clear removed the marker text"
    # Rows replace the sample row (5) and the row below, in the sample row's style.
    assert _values(report, "A5:C6") == [[1, "Ada", 12.5], [2, None, "x"]]
    for row in (5, 6):
        assert report.cell(row=row, column=3).number_format == "#,##0.00"
        assert report.cell(row=row, column=2).font.i and report.cell(row=row, column=2).fill.fgColor.rgb == BLUE
    assert _values(wb["Data"], "A1:F1") == [["007", 42, True, 1000.0, datetime.datetime(2024, 1, 2), "n/a"]]
    written = project.status("s", "r1")["jobs"]["report"]["outputs"]["written"]
    assert [(w["type_cast"], w["style_mode"]) for w in written] == [("schema", "copy_row"), ("basic", "none")]


def test_fill_small_from_db_fetch_small_rows(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    db = project.root / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders(id INTEGER, customer TEXT, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?,?,?)", [(1, "Ada", 12.5), (2, "Boé", None)])
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fetch
              type: db_fetch_small
              inputs: {{resource: shop, sql: "SELECT id, customer, amount FROM orders ORDER BY id"}}
            - id: fill
              type: excel_fill_small
              inputs:
                template_path: {str(tpl)!r}
                output: db.xlsx
                targets:
                  - name: orders
                    anchor: ORDERS_ANCHOR
                    insert: below
                    header_mode: override
                    rows_json: "{{{{steps.fetch.rows_json}}}}"
                    columns_json: "{{{{steps.fetch.columns_json}}}}"
                    dtypes_json: "{{{{steps.fetch.dtypes_json}}}}"
                    row_count: "{{{{steps.fetch.row_count}}}}"
                    max_rows: 10
        """, resources=f"shop: {{kind: db, driver: sqlite3, config: {{path: {str(db)!r}}}}}\n")
    project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    report = openpyxl.load_workbook(_artifacts(project, "s") / "db.xlsx")["Report"]
    # override: the columns replace the template's header text, its formatting stays.
    assert _values(report, "A4:C6") == [["id", "customer", "amount"], [1, "Ada", 12.5], [2, "Boé", None]]
    assert report["A4"].fill.fgColor.rgb == YELLOW
    assert report["A9"].value == "Footer"


@pytest.mark.parametrize(("target", "env", "message"), [
    ({"anchor": "NOT_THERE", "rows_json": "[[1]]"}, {},
     "Excel anchor not found: 'NOT_THERE'. Workbook sheets=['Report', 'Notes', 'Data']."),
    ({"anchor": "SUMMARY", "cell": "A1", "rows_json": "[[1]]"}, {},
     "excel_fill_small target=target: must set exactly one of anchor OR cell"),
    ({"cell": "B2", "rows_json": "[[1]]"}, {},
     "Excel target requires sheet when using cell like 'A1' (set sheet or use 'Sheet!A1')"),
    ({"cell": "Data!A1", "rows_json": "[[1], [2], [3]]", "max_rows": 2}, {},
     "excel_fill_small target=target: data rows exceed max_rows=2"),
    ({"cell": "Data!A1", "rows_json": "[[1, 2]"}, {},
     "excel_fill_small target=target: rows_json must be valid JSON"),
    ({"anchor": "ORDERS_ANCHOR", "rows_json": "[[1]]"}, {"AETHERFLOW_MODE_ENTERPRISE": "true"},
     "Excel anchor text search requires 'sheet' in enterprise mode. Use named range or set sheet."),
])
def test_fill_small_refusals_fail_the_job_and_write_nothing(
        project: Project, target: dict, env: dict[str, str], message: str) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs: {{template_path: {str(tpl)!r}, output: out.xlsx, targets: [{json.dumps(target)}]}}
        """)
    proc = project.run("s", "run", "--run-id", "r1", host_packages=True, env=env, check_exit=1)
    assert message in proc.stderr
    assert sorted(p.name for p in _artifacts(project, "s").iterdir()) == []


def test_fill_small_enterprise_mode_with_a_sheet_or_a_defined_name(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs:
                template_path: {str(tpl)!r}
                output: out.xlsx
                targets:
                  - {{anchor: ORDERS_ANCHOR, sheet: Report, rows_json: '[[1]]'}}
                  - {{anchor: SUMMARY, rows_json: '[[2]]'}}
        """)
    project.run("s", "run", "--run-id", "r1", host_packages=True, env={"AETHERFLOW_MODE_ENTERPRISE": "1"},
                check_exit=0)
    report = openpyxl.load_workbook(_artifacts(project, "s") / "out.xlsx")["Report"]
    assert (report["A5"].value, report["F2"].value) == (1, 2)


def test_overlapping_targets_fail(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "s", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs:
                template_path: {str(tpl)!r}
                output: out.xlsx
                targets:
                  - {{name: a, cell: "Data!A1", rows_json: '[[1, 2], [3, 4]]'}}
                  - {{name: b, cell: "Data!B2", rows_json: '[[5]]'}}
        """)
    proc = project.run("s", "run", "--run-id", "r1", host_packages=True, check_exit=1)
    assert "excel_fill_small targets overlap: name=b sheet=Data rect=('Data', 2, 2, 2, 2) " \
           "prev=('Data', 1, 1, 2, 2)" in proc.stderr


# --- excel_fill_from_file ---------------------------------------------------------------

ORDERS = "id\tname\tamount\n1\tAda\t12.5\n2\tBoé\t3\n3\tCy\t\n"


def test_fill_from_file_data_sheets_from_tsv_and_csv(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    tsv = _write(project.work / "in" / "orders.tsv", ORDERS)
    csv_ = _write(project.work / "in" / "people.csv", 'name,city,n\n"Smith, J",Köln,007\nLee,"a ""b""",1e3\n')
    _flow(project, "f", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_from_file
              inputs:
                template_path: {str(tpl)!r}
                output: out/data.xlsx
                targets:
                  - {{name: orders, source_path: {str(tsv)!r}, dtypes: {{id: int, amount: float}}}}
                  - {{name: people, source_path: {str(csv_)!r}, sheet: Data, cell: B2, type_cast: basic,
                     header_bold: false}}
              outputs: {{written: "{{{{result.written}}}}"}}
        """)
    project.run("f", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    wb = openpyxl.load_workbook(_artifacts(project, "f") / "out" / "data.xlsx")
    assert wb.sheetnames == ["Report", "Notes", "Data", "DATA_orders"]
    orders = wb["DATA_orders"]
    assert _values(orders, "A1:C4") == [["id", "name", "amount"], [1, "Ada", 12.5], [2, "Boé", 3.0], [3, "Cy", None]]
    assert all(c.font.b for c in orders[1]) and not orders["A2"].font.b
    assert orders.freeze_panes == "A2"
    assert orders.auto_filter.ref == "A1:C4"
    data = wb["Data"]
    assert _values(data, "B2:D4") == [["name", "city", "n"], ["Smith, J", "Köln", "007"], ["Lee", 'a "b"', 1000.0]]
    assert not data["B2"].font.b and data.freeze_panes == "B3" and data.auto_filter.ref == "B2:D4"
    written = project.status("f", "r1")["jobs"]["report"]["outputs"]["written"]
    assert written == [
        {"name": "orders", "sheet": "DATA_orders", "rows": 4, "cols": 3, "mode": "data_sheet", "insert": "replace",
         "header_mode": "append", "header_style": "template", "style_mode": "none", "start_cell": [1, 1],
         "template_has_header": False},
        {"name": "people", "sheet": "Data", "rows": 3, "cols": 3, "mode": "data_sheet", "insert": "replace",
         "header_mode": "append", "header_style": "template", "style_mode": "none", "start_cell": [2, 2],
         "template_has_header": False},
    ]


def test_fill_from_file_report_region_inserts_under_the_template_header(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    csv_ = _write(project.work / "in" / "orders.csv", "id,name,amount\n1,Ada,12.5\n2,Boé,3\n3,Cy,7\n")
    two = _write(project.work / "in" / "two.csv", "id,name,amount\n7,Xi,1.5\n8,Yo,2\n")
    _flow(project, "f", f"""\
        - id: report
          steps:
            - id: below
              type: excel_fill_from_file
              inputs:
                template_path: {str(tpl)!r}
                output: below.xlsx
                targets:
                  - {{name: orders, mode: report_region, anchor: ORDERS_ANCHOR, source_path: {str(csv_)!r},
                     dtypes_json: '{{"id": "int", "amount": "float"}}'}}
              outputs: {{written: "{{{{result.written}}}}"}}
            - id: styled
              type: excel_fill_from_file
              inputs:
                template_path: {str(tpl)!r}
                output: styled.xlsx
                targets:
                  - {{name: orders, mode: report_region, anchor: ORDERS_ANCHOR, source_path: {str(two)!r},
                     insert: replace, style_mode: copy_row, type_cast: basic}}
        """)
    project.run("f", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    report = openpyxl.load_workbook(_artifacts(project, "f") / "below.xlsx")["Report"]
    assert _values(report, "A4:C7") == [["ID", "NAME", "AMOUNT"], [1, "Ada", 12.5], [2, "Boé", 3.0], [3, "Cy", 7.0]]
    assert report["A4"].font.b and report["A4"].fill.fgColor.rgb == YELLOW
    assert report["A10"].value == "Footer"
    written = project.status("f", "r1")["jobs"]["report"]["outputs"]["written"]
    assert written == [{"name": "orders", "sheet": "Report", "rows": 4, "cols": 3, "mode": "report_region",
                        "insert": "below", "header_mode": "template", "header_style": "template",
                        "style_mode": "none", "start_cell": [4, 1], "template_has_header": True}]
    styled = openpyxl.load_workbook(_artifacts(project, "f") / "styled.xlsx")["Report"]
    assert _values(styled, "A5:C6") == [[7, "Xi", 1.5], [8, "Yo", 2]]
    assert styled["C6"].number_format == "#,##0.00" and styled["B6"].font.i
    assert styled["A7"].value == "Footer"


def test_rows_threshold_guards_report_regions_only(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    big = _write(project.work / "in" / "big.tsv", "n\tsquare\n" + "".join(f"{i}\t{i * i}\n" for i in range(1, 121)))

    def job(job_id: str, target: str) -> str:
        return textwrap.dedent(f"""\
            - id: {job_id}
              steps:
                - id: fill
                  type: excel_fill_from_file
                  inputs:
                    template_path: {str(tpl)!r}
                    output: out.xlsx
                    rows_threshold: 100
                    targets: [{{name: big, source_path: {str(big)!r}, {target}}}]
            """)
    _flow(project, "f", job("region", "mode: report_region, anchor: ORDERS_ANCHOR")
          + job("forced", "mode: report_region, anchor: ORDERS_ANCHOR, fail_on_threshold: false")
          + job("sheet", "dtypes: {n: int, square: int}"))
    proc = project.run("f", "run", "--run-id", "r1", "--keep-going", host_packages=True, check_exit=1)
    assert "excel_fill_from_file target=big: row_count=120 exceeds rows_threshold=100. Use mode=data_sheet " \
           "(DATA_*) instead of report_region, or raise rows_threshold." in proc.stderr
    jobs = statuses(project.status("f", "r1"))
    assert {job: status for job, (status, _) in jobs.items()} == \
        {"region": "FAILED", "forced": "SUCCESS", "sheet": "SUCCESS"}
    assert not (_artifacts(project, "f", "region") / "out.xlsx").exists()
    forced = openpyxl.load_workbook(_artifacts(project, "f", "forced") / "out.xlsx")["Report"]
    assert _values(forced, "A5:B5") == [["1", "1"]] and _values(forced, "A124:B124") == [["120", "14400"]]
    assert forced["A127"].value == "Footer"
    sheet = openpyxl.load_workbook(_artifacts(project, "f", "sheet") / "out.xlsx")["DATA_big"]
    assert sheet.max_row == 121 and _values(sheet, "A121:B121") == [[120, 14400]]


def test_fill_from_file_reads_header_less_files_with_given_columns(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    src = _write(project.work / "in" / "rows.txt", "5;five\n6;'s;ix'")
    _flow(project, "f", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_from_file
              inputs:
                template_path: {str(tpl)!r}
                output: out.xlsx
                targets:
                  - {{name: raw, source_path: {str(src)!r}, source_format: csv, read_header: false,
                     columns: [n, w], dtypes: {{n: int}}, file: {{delimiter: ";", quotechar: "'"}}}}
        """)
    project.run("f", "run", "--run-id", "r1", host_packages=True, check_exit=0)
    raw = openpyxl.load_workbook(_artifacts(project, "f") / "out.xlsx")["DATA_raw"]
    assert _values(raw, "A1:B2") == [[5, "five"], [6, "s;ix"]]
    assert raw.freeze_panes is None and raw.auto_filter.ref is None


def test_fill_from_file_refuses_jsonl_like_the_engine(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    src = _write(project.work / "in" / "rows.jsonl", '{"a": 1}\n')
    _flow(project, "f", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_from_file
              inputs: {{template_path: {str(tpl)!r}, output: out.xlsx, targets: [{{source_path: {str(src)!r}}}]}}
        """)
    proc = project.run("f", "run", "--run-id", "r1", host_packages=True, check_exit=1)
    assert "excel_fill_from_file target=target: Unsupported source_format: jsonl (tsv, csv or parquet)" in proc.stderr


# --- output and hosts -------------------------------------------------------------------


def test_the_output_is_replaced_atomically_and_never_left_half_written(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    final = _write(project.work / "out" / "report.xlsx", "previous report")

    def flow(target: str) -> None:
        _flow(project, "a", f"""\
            - id: report
              steps:
                - {{id: dir, type: external.process, inputs: {{command: ["mkdir", "-p", "taken"], cwd: "."}}}}
                - id: fill
                  type: excel_fill_small
                  inputs: {{template_path: {str(tpl)!r}, output: "{{{{env.OUT}}}}", targets: [{target}]}}
            """)

    flow('{anchor: "NOT_THERE", rows_json: "[[1]]"}')
    project.run("a", "run", "--run-id", "r1", host_packages=True, env={"OUT": str(final)}, check_exit=1)
    assert final.read_text() == "previous report"
    # The output is a directory: the workbook is saved, then cannot be renamed into place.
    flow('{cell: "Data!A1", rows_json: "[[1]]"}')
    proc = project.run("a", "run", "--run-id", "r2", host_packages=True, env={"OUT": "taken"}, check_exit=1)
    assert "taken" in proc.stderr
    artifacts = _artifacts(project, "a", run_id="r2")
    assert sorted(p.name for p in artifacts.iterdir()) == ["taken"]
    project.run("a", "run", "--run-id", "r3", host_packages=True, env={"OUT": str(final)}, check_exit=0)
    assert openpyxl.load_workbook(final)["Data"]["A1"].value == 1
    assert sorted(p.name for p in final.parent.iterdir()) == ["report.xlsx"]


def test_a_host_without_openpyxl_fails_naming_the_package(project: Project) -> None:
    tpl = _template(project.work / "in" / "tpl.xlsx")
    _flow(project, "n", f"""\
        - id: report
          steps:
            - id: fill
              type: excel_fill_small
              inputs: {{template_path: {str(tpl)!r}, output: out/x.xlsx,
                       targets: [{{cell: "Data!A1", rows_json: "[[1]]"}}]}}
        - id: check
          steps:
            - id: v
              type: excel_validate_template
              inputs: {{template_path: {str(tpl)!r}, required_names: [SUMMARY]}}
        """)
    proc = project.run("n", "run", "--run-id", "r1", "--keep-going")  # -I -S: the standard library only
    assert proc.returncode == 1
    assert "driver excel needs the Python package 'openpyxl' on this host (pip install openpyxl)" in proc.stderr
    jobs = statuses(project.status("n", "r1"))
    assert jobs == {"report": ("FAILED", {"fill": "FAILED"}), "check": ("FAILED", {"v": "FAILED"})}
    assert not (_artifacts(project, "n") / "out").exists(), "nothing is written before openpyxl is found"


def test_manifest_and_check_env_name_openpyxl(project: Project) -> None:
    project.write_flow("x.yaml", project.header("x") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - id: v
                type: excel_validate_template
                inputs: {template_path: t.xlsx, required_names: [A]}
        """))
    project.compile()
    assert json.loads((project.dist / "manifest.json").read_text())["flows"]["x"]["packages"] == ["openpyxl"]
    bare = project.run("x", "check-env")
    assert bare.returncode == 2 and "package openpyxl                 MISSING" in bare.stdout
    assert project.run("x", "check-env", host_packages=True).returncode == 0
