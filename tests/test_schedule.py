"""`compile --schedule` and `schedule explain`: the scheduler file as crontab, systemd timers
and Kubernetes CronJobs. The golden trees (tests/golden/compile/schedule*) hold the whole
files; here every systemd calendar is checked against croniter with systemd-analyze, and
every Kubernetes manifest against the Kubernetes JSON schemas."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from aetherflow_compiler.schedule.cron import parse_cron
from aetherflow_compiler.schedule.explain import next_times
from aetherflow_compiler.schedule.systemd import on_calendar
from conftest import GOLDEN, run_cli

SCHEDULE_CASES = [GOLDEN / "compile" / "schedule", GOLDEN / "compile" / "schedule_sh"]
# Expressions beyond the golden files: steps, ranges, lists, names, weekday 7, both day fields.
MORE = [
    ("UTC", "0 0 * * *"),
    ("UTC", "*/7 * * * *"),
    ("UTC", "0 */5 * * *"),
    ("UTC", "10-40/10 1,13 * * *"),
    ("UTC", "0 12 * * 7"),
    ("UTC", "0 12 29 2 *"),
    ("UTC", "15 10 31 * *"),
    ("Asia/Kolkata", "0 9 * * mon-fri"),
    ("Australia/Sydney", "30 1 1-7 * sun"),
    ("Europe/Berlin", "0 3 13 * fri"),
    ("America/New_York", "0 0 1 */3 *"),
    ("America/Sao_Paulo", "59 23 * dec sat"),
]
BASE = datetime.datetime(2026, 1, 5, 12, 0, tzinfo=datetime.timezone.utc)
ITERATIONS = 20


def _scheduler_items(case: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load((case / "scheduler.yaml").read_text())
    return [(data["timezone"], item["cron"]) for item in data["items"]]


ALL_EXPRESSIONS = [pair for case in SCHEDULE_CASES for pair in _scheduler_items(case)] + MORE


def _systemd_times(calendars: list[str], count: int) -> list[datetime.datetime]:
    """The next `count` elapses of a timer with these OnCalendar= lines (their union)."""
    proc = subprocess.run(
        [
            "systemd-analyze",
            "calendar",
            f"--iterations={count}",
            f"--base-time={BASE.strftime('%Y-%m-%d %H:%M:%S')} UTC",
            *calendars,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": "UTC"},
        check=True,
    )
    found = re.findall(
        r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC", proc.stdout
    )
    times = sorted(
        {datetime.datetime.fromisoformat(t).replace(tzinfo=datetime.timezone.utc) for t in found}
    )
    return times[:count]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="make test installs systemd")
@pytest.mark.parametrize(("timezone", "cron"), ALL_EXPRESSIONS, ids=lambda v: str(v))
def test_systemd_calendar_agrees_with_croniter(timezone: str, cron: str) -> None:
    calendars = on_calendar(parse_cron(cron), timezone)
    expected = [
        t.astimezone(datetime.timezone.utc) for t in next_times(cron, timezone, BASE, ITERATIONS)
    ]
    assert _systemd_times(calendars, ITERATIONS) == expected, calendars


def test_systemd_analyze_is_there() -> None:
    """The calendar test above must not be skipped quietly in CI: make test installs systemd."""
    assert shutil.which(
        "systemd-analyze"
    ), "install the Debian package systemd (scripts/ensure-test-servers.sh)"


@pytest.mark.unit
@pytest.mark.parametrize("case", SCHEDULE_CASES, ids=lambda p: p.name)
def test_every_kubernetes_manifest_passes_the_schemas(case: Path) -> None:
    manifests = sorted((case / "expected" / "schedule" / "kubernetes").glob("*.yaml"))
    assert len(manifests) == 1 + len(_scheduler_items(case))
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, "1.30", strict=True)
            if document["kind"] == "CronJob":
                spec = document["spec"]
                assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"]
                parse_cron(spec["schedule"])


def _project(tmp_path: Path, scheduler: str) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a.yaml").write_text(textwrap.dedent("""\
        version: 1
        flow: {id: a}
        jobs:
          - id: extract
            steps:
              - {id: s, type: external.process, inputs: {command: ["true"]}}
        """))
    (tmp_path / "scheduler.yaml").write_text(textwrap.dedent(scheduler))
    return tmp_path


@pytest.mark.unit
def test_items_must_name_compiled_flows_and_their_jobs(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """\
        timezone: UTC
        items:
          - {id: ok, cron: "0 1 * * *", flow_yaml: flows/a.yaml}
          - {id: typo, cron: "0 2 * * *", flow_yaml: flows/b.yaml}
          - {id: job, cron: "0 3 * * *", flow_yaml: flows/a.yaml, flow_job: extrct}
        """,
    )
    result = run_cli(
        ["compile", "flows", "-o", "dist", "--schedule", "scheduler.yaml"], cwd=project
    )
    assert result.exit_code == 2
    assert (
        "scheduler.yaml:4:46: error AF316 item 'typo': flow_yaml 'flows/b.yaml' is not among the compiled flows\n"
        "  hint: did you mean 'flows/a.yaml'?"
    ) in result.stdout
    assert (
        "scheduler.yaml:5:69: error AF317 item 'job': flow 'a' has no job 'extrct'\n"
        "  hint: did you mean 'extract'?"
    ) in result.stdout
    assert not (project / "dist").exists()


@pytest.mark.unit
def test_invalid_cron_stops_the_compile_with_a_located_error(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """\
        timezone: Mars/Olympus
        items:
          - {id: bad, cron: "0 24 * * *", flow_yaml: flows/a.yaml}
        """,
    )
    result = run_cli(
        ["compile", "flows", "-o", "dist", "--schedule", "scheduler.yaml"], cwd=project
    )
    assert result.exit_code == 2
    assert "scheduler.yaml:1:11: error AF312 unknown timezone 'Mars/Olympus'" in result.stdout
    assert (
        "scheduler.yaml:3:21: error AF315 item 'bad': cron '0 24 * * *': 24 is out of range for the hour field"
        in (result.stdout)
    )
    assert not (project / "dist").exists()


def test_crontab_commands_are_quoted_and_percent_signs_escaped(tmp_path: Path) -> None:
    project = _project(
        tmp_path,
        """\
        items:
          - {id: "odd name; rm -rf /", cron: "0 1 * * *", flow_yaml: flows/a.yaml, flow_job: extract}
        """,
    )
    result = run_cli(
        [
            "compile",
            "flows",
            "-o",
            "dist",
            "--schedule",
            "scheduler.yaml",
            "--deploy-dir",
            "/srv/my dist%1",
            "--log-dir",
            "/var/log/it's",
        ],
        cwd=project,
    )
    assert result.exit_code == 0, result.stdout
    crontab = (project / "dist" / "schedule" / "crontab").read_text()
    assert "CRON_TZ=Europe/Berlin" in crontab  # the engine's default timezone
    line = next(li for li in crontab.splitlines() if li.startswith("0 1 * * *"))
    assert line == (
        "0 1 * * * cd '/srv/my dist\\%1' && /usr/bin/python3 -I -S '/srv/my dist\\%1/a.py' run --job extract "
        ">>'/var/log/it'\"'\"'s/odd-name-rm-rf.log' 2>&1"
    )
    # What cron hands to /bin/sh (after turning \% into %) runs the artifact with exactly these words.
    command = line[len("0 1 * * * ") :].replace("\\%", "%")
    words = subprocess.run(
        [
            "sh",
            "-c",
            "set -- " + command.split(" && ", 1)[1].split(" >>", 1)[0] + '; printf "%s\\n" "$@"',
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert words.splitlines() == [
        "/usr/bin/python3",
        "-I",
        "-S",
        "/srv/my dist%1/a.py",
        "run",
        "--job",
        "extract",
    ]
    service = (
        project / "dist" / "schedule" / "systemd" / "aetherflow-odd-name-rm-rf.service"
    ).read_text()
    assert "ExecStart=/usr/bin/python3 -I -S '/srv/my dist%%1/a.py' run --job extract" in service


@pytest.mark.unit
def test_schedule_explain_prints_the_next_times_in_the_timezone() -> None:
    case = GOLDEN / "compile" / "schedule"
    result = run_cli(
        ["schedule", "explain", "scheduler.yaml", "-n", "2", "--from", "2026-03-28T12:00"], cwd=case
    )
    assert result.exit_code == 0, result.stdout
    assert result.stdout.startswith(
        "scheduler.yaml: timezone Europe/Berlin, next 2 times after 2026-03-28T12:00+01:00\n"
    )
    # Berlin moves to summer time on 2026-03-29 at 02:00: 02:30 does not exist that day (croniter
    # shows 03:00; see docs/scheduling.md for what cron and systemd do), and the offsets change.
    assert (
        "orders nightly load  cron '30 2 * * *'  flows/orders.yaml, job load  (misfire grace 300 s)\n"
        "  Sun 2026-03-29T03:00+02:00\n  Mon 2026-03-30T02:30+02:00\n"
    ) in result.stdout
    assert (
        "report-month-start-or-monday  cron '0 6 1,15 * mon'  flows/report.yaml  (misfire grace 300 s)\n"
        "  Mon 2026-03-30T06:00+02:00\n  Wed 2026-04-01T06:00+02:00\n"
    ) in result.stdout
    assert "AF807" in result.stderr and "AF808" not in result.stderr


@pytest.mark.unit
def test_schedule_explain_refuses_a_flow_file() -> None:
    result = run_cli(
        ["schedule", "explain", str(GOLDEN / "compile" / "schedule" / "flows" / "report.yaml")]
    )
    assert result.exit_code == 2
    assert "AF100 schedule explain needs one scheduler file" in result.stdout


@pytest.mark.unit
def test_item_names_for_files_and_units_are_unique() -> None:
    from aetherflow_compiler.schedule.model import schedule_of

    items = [
        {"id": i, "cron": "0 1 * * *", "flow_yaml": "a.yaml"}
        for i in ("nightly", "Nightly", "nightly-2", "!!")
    ]
    slugs = [item.slug for item in schedule_of({"items": items}, "s.yaml", "0").items]
    assert slugs == ["nightly", "nightly-2", "nightly-2-2", "item"]


def test_shared_state_takes_the_url_from_an_env_file_and_a_secret_and_mounts_no_claim(
    tmp_path: Path,
) -> None:
    project = _project(
        tmp_path,
        """\
        items:
          - {id: nightly, cron: "0 1 * * *", flow_yaml: flows/a.yaml}
        """,
    )
    result = run_cli(
        [
            "compile",
            "flows",
            "-o",
            "dist",
            "--schedule",
            "scheduler.yaml",
            "--shared-state",
            "--state-env-file",
            "/etc/af/it's.env",
            "--state-secret",
            "af-db",
        ],
        cwd=project,
    )
    assert result.exit_code == 0, result.stdout
    schedule = project / "dist" / "schedule"
    line = next(
        li for li in (schedule / "crontab").read_text().splitlines() if li.startswith("0 1 * * *")
    )
    assert line == (
        "0 1 * * * cd /opt/aetherflow/dist && set -a && . '/etc/af/it'\"'\"'s.env' && set +a && "
        "/usr/bin/python3 -I -S /opt/aetherflow/dist/a.py run >>/var/log/aetherflow/nightly.log 2>&1"
    )
    # What cron runs reads the file and exports what it sets.
    env_file = tmp_path / "state.env"
    env_file.write_text("AETHERFLOW_STATE_URL=postgresql://etl@db.internal/af\n")
    shown = subprocess.run(
        ["sh", "-c", f"set -a && . {env_file} && set +a && sh -c 'echo $AETHERFLOW_STATE_URL'"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == "postgresql://etl@db.internal/af\n"
    service = (schedule / "systemd" / "aetherflow-nightly.service").read_text()
    assert "EnvironmentFile=/etc/af/it's.env\n" in service
    cronjob = yaml.safe_load((schedule / "kubernetes" / "cronjob-nightly.yaml").read_text())
    kubernetes_validate.validate(cronjob, "1.30", strict=True)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["envFrom"] == [{"secretRef": {"name": "af-db"}}]
    assert {"name": "state", "emptyDir": {}} in pod["volumes"]
    assert "persistentVolumeClaim" not in json.dumps(pod)  # no claim: any node will do
    manifest = json.loads((project / "dist" / "manifest.json").read_text())
    assert manifest["flows"]["a"]["packages"] == ["psycopg[binary]"]
    # Without the option nothing changes.
    plain = run_cli(
        ["compile", "flows", "-o", "plain", "--schedule", "scheduler.yaml"], cwd=project
    )
    assert plain.exit_code == 0
    assert "set -a" not in (project / "plain" / "schedule" / "crontab").read_text()
    refused = run_cli(
        ["compile", "flows", "-o", "x", "--target", "sh", "--shared-state"], cwd=project
    )
    assert refused.exit_code == 2 and "--target sh writes none" in refused.stdout + refused.stderr
