"""What `compile` tells CI and reviewers: --json (the shape of validate --json), --check
--diff (a unified diff that `patch` applies), `schedule explain --json`, and the progress
bar, which shows on a terminal only. Run through the installed console script."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import EXAMPLES

AETHERFLOW = str(Path(sys.executable).parent / "aetherflow")

FLOW = """\
version: 1
flow:
  id: {id}
  workspace: {{root: work, cleanup_policy: never}}
jobs:
  - id: main
    steps:
      - {{id: s0, type: external.process, inputs: {{command: ["{command}"]}}}}
"""


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [AETHERFLOW, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=dict(os.environ, AETHERFLOW_CACHE_DIR=str(cwd / ".cache")),
    )


def _project(root: Path, n: int = 1) -> Path:
    (root / "flows").mkdir(parents=True)
    for i in range(n):
        (root / "flows" / f"f{i}.yaml").write_text(FLOW.format(id=f"f{i}", command="true"))
    return root


def _tree(dist: Path) -> list[str]:
    return sorted(p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file())


def test_compile_json_says_what_was_written_then_that_nothing_was(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "flows" / "f0.yaml").write_text(
        FLOW.format(id="f0", command="true").replace('["true"]}', '["true"], env: {on: "1"}}')
    )  # a key YAML 1.1 reads as a boolean: a warning
    first = _cli("compile", "flows", "-o", "dist", "--json", cwd=root)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # the JSON is the whole answer
    report = json.loads(first.stdout)
    files = _tree(root / "dist")
    assert report["ok"] is True and report["command"] == "compile" and report["output"] == "dist"
    assert report["flows"] == ["f0"]
    assert report["inputs"] == [{"path": "flows/f0.yaml", "kind": "flow", "ok": True}]
    assert report["files"] == files and report["written"] == files and report["removed"] == []
    assert report["errors"] == []
    assert [w["code"] for w in report["warnings"]] == ["AF801"]
    assert report["warnings"][0]["severity"] == "warning" and report["notes"] == []
    assert set(report["warnings"][0]) == {
        "file",
        "line",
        "column",
        "severity",
        "code",
        "message",
        "hint",
    }
    again = json.loads(_cli("compile", "flows", "-o", "dist", "--json", cwd=root).stdout)
    assert again["written"] == [] and again["files"] == files


def test_compile_json_errors_have_the_shape_of_validate_json(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "flows" / "bad.yaml").write_text(
        "version: 1\nflow: {id: b}\njobs:\n  - id: a\n    depends_no: []\n" "    steps: []\n"
    )
    result = _cli("compile", "flows", "-o", "dist", "--json", cwd=root)
    assert result.returncode == 2
    report = json.loads(result.stdout)
    validate = json.loads(_cli("validate", "flows", "--json", cwd=root).stdout)
    assert report["ok"] is False and report["files"] == []
    assert report["errors"] == validate["errors"] and report["errors"]
    assert report["errors"][0]["file"] == "flows/bad.yaml" and report["errors"][0]["line"] == 5
    assert not (root / "dist").exists()
    # An output that is not the compiler's: one error without a position.
    (root / "flows" / "bad.yaml").unlink()
    (root / "mine").mkdir()
    (root / "mine" / "notes.txt").write_text("keep")
    refused = _cli("compile", "flows", "-o", "mine", "--json", cwd=root)
    assert refused.returncode == 2
    error = json.loads(refused.stdout)["errors"][0]
    assert error["line"] is None and "was not written by aetherflow compile" in error["message"]
    assert (root / "mine" / "notes.txt").read_text() == "keep"


def test_check_json_lists_the_changes_and_exits_1(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _cli("compile", "flows", "-o", "dist", cwd=root).returncode == 0
    clean = _cli("compile", "flows", "-o", "dist", "--check", "--json", cwd=root)
    assert clean.returncode == 0 and json.loads(clean.stdout)["up_to_date"] is True
    (root / "flows" / "f0.yaml").write_text(FLOW.format(id="f0", command="false"))
    (root / "dist" / "stray.txt").write_text("x")
    stale = _cli("compile", "flows", "-o", "dist", "--check", "--json", cwd=root)
    assert stale.returncode == 1
    report = json.loads(stale.stdout)
    assert report["command"] == "compile --check" and report["up_to_date"] is False
    assert report["changes"] == [
        {"state": "differs", "path": "f0.py"},
        {"state": "differs", "path": "manifest.json"},
        {"state": "unexpected", "path": "stray.txt"},
    ]


def test_check_diff_is_a_patch_that_brings_the_output_up_to_date(tmp_path: Path) -> None:
    root = _project(tmp_path, n=2)
    assert _cli("compile", "flows", "-o", "dist", cwd=root).returncode == 0
    (root / "flows" / "f0.yaml").write_text(FLOW.format(id="f0", command="false"))
    (root / "flows" / "f1.yaml").unlink()
    (root / "flows" / "f2.yaml").write_text(FLOW.format(id="f2", command="true"))
    before = {p: (root / "dist" / p).read_bytes() for p in _tree(root / "dist")}
    result = _cli("compile", "flows", "-o", "dist", "--check", "--diff", cwd=root)
    assert result.returncode == 1
    assert "is out of date" in result.stderr
    diff = result.stdout
    assert "--- a/dist/f0.py\n+++ b/dist/f0.py\n" in diff
    assert '-    run.step("s0", "external.process", inputs={"command": ["true"]})\n' in diff
    assert '+    run.step("s0", "external.process", inputs={"command": ["false"]})\n' in diff
    assert (
        "--- a/dist/f1.py\n+++ /dev/null\n" in diff and "--- /dev/null\n+++ b/dist/f2.py\n" in diff
    )
    assert {
        p: (root / "dist" / p).read_bytes() for p in _tree(root / "dist")
    } == before  # nothing written
    applied = subprocess.run(
        ["patch", "-p1", "--batch", "--remove-empty-files"],
        input=diff,
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stdout + applied.stderr
    os.chmod(root / "dist" / "f2.py", 0o755)  # a patch carries no modes
    assert _cli("compile", "flows", "-o", "dist", "--check", cwd=root).returncode == 0


def test_diff_shows_bytecode_and_modes_without_dumping_bytes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    assert _cli("compile", "flows", "-o", "dist", cwd=root).returncode == 0
    pyc = next((root / "dist").rglob("runner.*.pyc"))
    pyc.write_bytes(b"\0" + pyc.read_bytes())
    os.chmod(root / "dist" / "f0.py", 0o600)
    result = _cli("compile", "flows", "-o", "dist", "--diff", cwd=root)
    assert result.returncode == 1
    shown = pyc.relative_to(root).as_posix()
    assert result.stdout == (
        f"Binary files a/{shown} and b/{shown} differ\n" f"mode of dist/f0.py: 600 -> 755\n"
    )  # in the order of the paths
    usage = _cli(
        "compile",
        "flows",
        "-o",
        "dist",
        "--diff",
        "--archive",
        str(tmp_path / "d.tar.gz"),
        cwd=root,
    )
    assert usage.returncode == 2 and "--diff writes none" in usage.stderr


def test_schedule_explain_json_has_the_times_the_text_shows(tmp_path: Path) -> None:
    args = [
        "schedule",
        "explain",
        str(EXAMPLES / "scheduler.yaml"),
        "-n",
        "3",
        "--from",
        "2026-03-28T12:00",
    ]
    text = _cli(*args, cwd=tmp_path)
    report = _cli(*args, "--json", cwd=tmp_path)
    assert text.returncode == report.returncode == 0
    data = json.loads(report.stdout)
    assert data["ok"] is True and data["errors"] == [] and data["timezone"] == "Europe/Berlin"
    assert data["start"] == "2026-03-28T12:00:00+01:00"
    shown = [line.split()[1] for line in text.stdout.splitlines() if line.startswith("  ")]
    assert [t[:16] + t[19:] for item in data["items"] for t in item["next"]] == shown
    assert all(len(item["next"]) == 3 and item["cron"] and item["target"] for item in data["items"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntimezone: Mars/Olympus\njobs: []\n")
    failed = _cli("schedule", "explain", str(bad), "--json", cwd=tmp_path)
    assert failed.returncode == 2
    assert json.loads(failed.stdout)["ok"] is False and json.loads(failed.stdout)["errors"]


def _on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run with stdout and stderr on a pseudo-terminal: (exit status, what it showed)."""
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        args,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
        env=dict(os.environ, AETHERFLOW_CACHE_DIR=str(cwd / ".cache"), COLUMNS="100"),
    )
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def test_a_progress_bar_on_a_terminal_and_nothing_on_a_pipe(tmp_path: Path) -> None:
    root = _project(tmp_path, n=12)
    code, shown = _on_a_terminal([AETHERFLOW, "compile", "flows", "-o", "dist"], root)
    assert code == 0, shown
    assert "compiling" in shown and "12/12" in shown
    assert "compiled 12 flows into dist" in shown
    # The same compile again: the cache answers every file, there is nothing to wait for.
    code, shown = _on_a_terminal([AETHERFLOW, "compile", "flows", "-o", "dist2"], root)
    assert code == 0 and "compiling" not in shown
    shutil.rmtree(root / ".cache")
    piped = _cli("compile", "flows", "-o", "dist3", cwd=root)
    assert piped.returncode == 0
    assert piped.stderr == f"compiled 12 flows into dist3 ({len(_tree(root / 'dist3'))} files)\n"
