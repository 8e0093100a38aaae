"""The project config as a user meets it: `[tool.aetherflow]` in pyproject.toml or an
aetherflow.toml, read by a bare `aetherflow compile`, `validate` and `compile --check` run
in the project's folder or below it (real CLI calls in temp dirs)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from aetherflow_compiler.cli.commands import compile_command
from aetherflow_compiler.cli.config_defaults import config_keys
from aetherflow_compiler.cli.project_config import KEYS, toml_parser
from aetherflow_compiler.cli.toml_positions import Position, key_positions
from conftest import CliResult, run_cli

HELLO = """\
version: 1
flow:
  id: hello
  state: {backend: file, path: /tmp/aetherflow-project-config-hello}
jobs:
  - id: greet
    steps:
      - id: say
        type: external.process
        inputs: {command: [echo, hello]}
"""
SCHEDULE = """\
timezone: UTC
items:
  - id: hello-nightly
    cron: "30 2 * * *"
    flow_yaml: flows/hello.yaml
"""


def project(root: Path, config: str, name: str = "pyproject.toml") -> Path:
    """A project folder: flows/hello.yaml, scheduler.yaml, a .git marker and the config."""
    (root / "flows" / "sub").mkdir(parents=True, exist_ok=True)
    (root / "flows" / "hello.yaml").write_text(HELLO)
    (root / "scheduler.yaml").write_text(SCHEDULE)
    (root / ".git").mkdir(exist_ok=True)
    (root / name).write_text(textwrap.dedent(config))
    return root


def ok(result: CliResult) -> CliResult:
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


PYPROJECT = """\
    [project]
    name = "orders"

    [tool.aetherflow]
    paths = ["flows"]
    output = "dist"
    target = "all"
    schedule = "scheduler.yaml"
    deploy-dir = "/srv/aetherflow/dist"
    """


def test_a_bare_compile_uses_the_config(tmp_path: Path) -> None:
    root = project(tmp_path, PYPROJECT)
    result = ok(run_cli(["compile"], cwd=root))
    assert "compiled 1 flow into dist" in result.stderr
    dist = root / "dist"
    assert (dist / "hello.py").is_file() and (dist / "hello.sh").is_file()  # target = "all"
    assert "cd /srv/aetherflow/dist && " in (dist / "schedule" / "crontab").read_text()


def test_flags_win_even_when_equal_to_their_defaults(tmp_path: Path) -> None:
    root = project(tmp_path, PYPROJECT + '    single-file = true\n    k8s-request = ["cpu=250m"]\n')
    ok(
        run_cli(
            [
                "compile",
                "-o",
                "out",
                "--target",
                "python",
                "--deploy-dir",
                "/opt/aetherflow/dist",
                "--no-single-file",
            ],
            cwd=root,
        )
    )
    out = root / "out"
    assert not (root / "dist").exists()
    assert (out / "hello.py").is_file() and not (out / "hello.sh").exists()  # python is the default
    assert (out / "aetherflow_runtime").is_dir()  # --no-single-file beats single-file = true
    assert (
        "cd /opt/aetherflow/dist && " in (out / "schedule" / "crontab").read_text()
    )  # the default too
    cronjob = next((out / "schedule" / "kubernetes").glob("*cronjob*")).read_text()
    assert "cpu: 250m" in cronjob  # what the command line did not give still comes from the config


def test_the_config_is_found_from_a_subfolder_and_its_paths_are_relative_to_it(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, PYPROJECT)
    result = ok(run_cli(["compile"], cwd=root / "flows" / "sub"))
    assert "compiled 1 flow into ../../dist" in result.stderr
    assert (root / "dist" / "hello.py").is_file()
    assert not (root / "flows" / "sub" / "dist").exists()
    # An absolute path is taken as written.
    other = tmp_path / "elsewhere"
    (root / "pyproject.toml").write_text(
        f'[tool.aetherflow]\npaths = ["{root / "flows"}"]\noutput = "{other}"\n'
    )
    ok(run_cli(["compile"], cwd=root / "flows"))
    assert (other / "hello.py").is_file()


def test_compile_check_and_validate_use_the_config(tmp_path: Path) -> None:
    root = project(tmp_path / "orders", PYPROJECT + '    archive = "../dist.tar.gz"\n')
    ok(run_cli(["compile"], cwd=root))
    assert (tmp_path / "dist.tar.gz").is_file()
    check = ok(
        run_cli(["compile", "--check"], cwd=root / "flows")
    )  # archive is left out: --check writes none
    assert "is up to date (1 flows" in check.stderr
    (root / "pyproject.toml").write_text(
        (root / "pyproject.toml").read_text().replace("/srv/", "/opt/")
    )
    drift = run_cli(["compile", "--check"], cwd=root)
    assert drift.exit_code == 1 and "differs: dist/schedule/crontab" in drift.stdout
    diffed = run_cli(["compile", "--diff"], cwd=root)  # --diff writes nothing either: no archive
    assert diffed.exit_code == 1 and "+30 2 * * * cd /opt/aetherflow/dist && " in diffed.stdout
    valid = ok(run_cli(["validate"], cwd=root))
    assert valid.stderr.strip() == "2 files valid"  # the flow and the scheduler file


def test_validate_checks_the_flows_against_the_configs_profiles(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.aetherflow]\npaths = ["flows"]\nprofiles = "profiles.yaml"\n')
    (root / "profiles.yaml").write_text("prod:\n  config: {path: /srv/prod.sqlite}\n")
    (root / "flows" / "db.yaml").write_text(textwrap.dedent("""\
        version: 1
        flow: {id: db}
        resources:
          wh: {kind: db, driver: sqlite3, profile: prdo, config: {path: /tmp/x.sqlite}}
        jobs: []
        """))
    result = run_cli(["validate"], cwd=root / "flows")
    assert result.exit_code == 2
    assert "db.yaml:4:" in result.stdout and " AF307 " in result.stdout
    assert ok(run_cli(["validate", "--no-config", "db.yaml"], cwd=root / "flows")).exit_code == 0


def test_aetherflow_toml_holds_the_keys_at_its_top_level(tmp_path: Path) -> None:
    root = project(tmp_path, 'paths = ["flows"]\noutput = "build/dist"\n', name="aetherflow.toml")
    ok(run_cli(["compile"], cwd=root))
    assert (root / "build" / "dist" / "hello.py").is_file()
    (root / "aetherflow.toml").write_text('[tool.aetherflow]\npaths = ["flows"]\n')
    result = run_cli(["compile"], cwd=root)
    assert result.exit_code == 2
    assert result.stdout.startswith(
        "aetherflow.toml:1:2: error AF902 unknown project config key 'tool'\n"
        "  hint: aetherflow.toml holds the keys at its top level"
    )


def test_aetherflow_toml_wins_over_the_pyproject_table_beside_it_with_a_warning(
    tmp_path: Path,
) -> None:
    root = project(tmp_path, PYPROJECT)
    (root / "aetherflow.toml").write_text('paths = ["flows"]\noutput = "from-aetherflow-toml"\n')
    result = ok(run_cli(["compile"], cwd=root))
    assert (root / "from-aetherflow-toml" / "hello.py").is_file() and not (root / "dist").exists()
    assert result.stdout.startswith(
        "pyproject.toml:4:1: warning AF817 the [tool.aetherflow] table is ignored: "
        "aetherflow.toml is beside it"
    )
    as_json = json.loads(run_cli(["validate", "--json"], cwd=root).stdout)
    assert [w["code"] for w in as_json["warnings"]] == ["AF817"]
    compiled = json.loads(run_cli(["compile", "--json"], cwd=root).stdout)
    assert compiled["ok"] and [w["code"] for w in compiled["warnings"]] == ["AF817"]


def test_the_nearest_config_wins_and_the_search_stops_at_the_repository_root(
    tmp_path: Path,
) -> None:
    root = project(tmp_path / "repo", PYPROJECT)
    inner = root / "flows" / "sub"
    (inner / "pyproject.toml").write_text(
        '[project]\nname = "not-aetherflow"\n'
    )  # no table: passed over
    ok(run_cli(["compile"], cwd=inner))
    assert (root / "dist" / "hello.py").is_file()
    (inner / "aetherflow.toml").write_text('paths = ["../hello.yaml"]\noutput = "near"\n')
    ok(run_cli(["compile"], cwd=inner))
    assert (inner / "near" / "hello.py").is_file()
    # Above the repository's root (the folder with .git) nothing is read.
    (tmp_path / "aetherflow.toml").write_text('paths = ["nope"]\n')
    (root / "pyproject.toml").unlink()
    result = run_cli(["validate"], cwd=root)
    assert result.exit_code == 2 and "set paths in the project config" in result.stderr


def test_unknown_keys_are_located_errors_with_did_you_mean(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """\
        [tool.aetherflow]
        paths = ["flows"]
        ouput = "dist"
        deploy_dir = "/srv"

        [tool.aetherflow.k8s]
        image = "python:3.12-slim"
        """,
    )
    for command in (["compile"], ["compile", "--check"], ["validate"]):
        result = run_cli(command, cwd=root / "flows")
        assert result.exit_code == 2, command
        assert result.stdout == (
            "../pyproject.toml:3:1: error AF902 unknown project config key 'ouput'\n"
            "  hint: did you mean 'output'?\n"
            "../pyproject.toml:4:1: error AF902 unknown project config key 'deploy_dir'\n"
            "  hint: did you mean 'deploy-dir'? The keys are written like the flags, in kebab-case\n"
            "../pyproject.toml:6:18: error AF902 unknown project config key 'k8s'\n"
            "  hint: the keys are flat, like the flags: write k8s-image directly in [tool.aetherflow]\n"
        )
        assert result.stderr.strip().endswith("3 errors before any file was checked")
    assert not (root / "dist").exists()


def test_wrong_types_and_values_are_located_errors(tmp_path: Path) -> None:
    root = project(
        tmp_path,
        """\
        [tool.aetherflow]
        paths = "flows"
        target = "rust"
        shared-state = "yes"
        plugins = ["plugins", 3]
        k8s-request = ["cpu"]
        output = ""
        """,
    )
    result = run_cli(["compile"], cwd=root)
    assert result.exit_code == 2
    lines = [line for line in result.stdout.splitlines() if not line.startswith("  hint")]
    assert lines == [
        "pyproject.toml:2:9: error AF903 paths must be an array of strings, not a string ('flows')",
        "pyproject.toml:3:10: error AF904 target must be one of all, python, sh, not 'rust'",
        "pyproject.toml:4:16: error AF903 shared-state must be a boolean (true or false), not a string ('yes')",
        "pyproject.toml:5:23: error AF903 plugins[1] must be a string, not a number (3)",
        "pyproject.toml:6:16: error AF904 k8s-request[0] must be NAME=QUANTITY, not 'cpu'",
        "pyproject.toml:7:10: error AF904 output must not be empty",
    ]
    assert '  hint: write paths = ["flows"]' in result.stdout
    broken = run_cli(["validate", "--json"], cwd=root)
    errors = json.loads(broken.stdout)["errors"]
    assert broken.exit_code == 2 and errors[0] == {
        "file": "pyproject.toml",
        "line": 2,
        "column": 9,
        "severity": "error",
        "code": "AF903",
        "message": "paths must be an array of strings, not a string ('flows')",
        "hint": 'write paths = ["flows"]',
    }


def test_invalid_toml_and_conflicting_keys(tmp_path: Path) -> None:
    root = project(tmp_path, 'paths = ["flows"\noutput = "dist"\n', name="aetherflow.toml")
    result = run_cli(["compile"], cwd=root)
    assert result.exit_code == 2 and result.stdout.startswith(
        "aetherflow.toml:2:1: error AF901 invalid TOML: "
    )
    (root / "aetherflow.toml").write_text(
        'bundle-manifest = "manifest.yaml"\nplugins = ["plugins"]\n'
        'bytecode = ["python3"]\nno-bytecode = true\n'
    )
    result = run_cli(["compile"], cwd=root)
    assert result.exit_code == 2
    assert (
        "aetherflow.toml:2:1: error AF905 plugins cannot go with bundle-manifest" in result.stdout
    )
    assert "aetherflow.toml:4:1: error AF905 no-bytecode cannot go with bytecode" in result.stdout


def test_command_line_inputs_replace_the_configs(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.aetherflow]\npaths = ["missing"]\noutput = "dist"\n')
    (root / "other").mkdir()
    (root / "other" / "hello.yaml").write_text(HELLO)
    ok(run_cli(["compile", "other"], cwd=root))
    assert (root / "dist" / "hello.py").is_file()
    # A bundle manifest on the command line replaces the config's flows (and its profiles).
    result = run_cli(["validate", "--bundle-manifest", "nope.yaml"], cwd=root)
    assert result.exit_code == 2 and "nope.yaml:1:1: error AF100" in result.stdout


def test_config_and_no_config_options(tmp_path: Path) -> None:
    root = project(tmp_path, PYPROJECT)
    (root / "ci.toml").write_text('paths = ["flows"]\noutput = "ci-dist"\n')
    ok(run_cli(["compile", "--config", "ci.toml"], cwd=root))
    assert (root / "ci-dist" / "hello.py").is_file()
    (root / "plain").mkdir()
    (root / "plain" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    named = run_cli(["compile", "--config", "plain/pyproject.toml"], cwd=root)
    assert (
        named.exit_code == 2
        and "plain/pyproject.toml has no [tool.aetherflow] table" in named.stderr
    )
    bare = run_cli(["compile", "--no-config"], cwd=root)
    assert bare.exit_code == 2 and "Missing option '-o' / '--output'" in bare.stderr
    both = run_cli(["compile", "--no-config", "--config", "ci.toml"], cwd=root)
    assert both.exit_code == 2 and "leave one out" in both.stderr
    missing = run_cli(["validate", "--config", "nope.toml"], cwd=root)
    assert missing.exit_code == 2 and missing.stdout.startswith(
        "nope.toml:1:1: error AF100 cannot read file"
    )


def test_help_names_the_config_in_use(tmp_path: Path) -> None:
    root = project(tmp_path, PYPROJECT)
    assert "pyproject.toml ([tool.aetherflow]): its keys are the defaults" in ok(
        run_cli(["compile", "--help"], cwd=root / "flows")
    ).stdout.replace("\n  ", " ")
    (root / "pyproject.toml").unlink()
    assert "None found here." in ok(run_cli(["validate", "--help"], cwd=root)).stdout


def test_the_machines_mode_wins_over_the_projects(tmp_path: Path) -> None:
    root = project(tmp_path, '[tool.aetherflow]\npaths = ["flows"]\nmode = "enterprise"\n')
    env = {"AETHERFLOW_PLUGIN_PATHS": str(tmp_path / "no-such-plugins")}
    # enterprise mode reads plugins from --plugins (or the config's plugins) only
    ok(run_cli(["validate"], cwd=root, env=env))
    result = run_cli(["validate"], cwd=root, env={**env, "AETHERFLOW_MODE": "internal_fast"})
    assert result.exit_code == 2 and " AF703 " in result.stdout


def test_every_key_is_a_compile_flag() -> None:
    """The keys are the flags' names: each sets one of compile's parameters."""
    assert sorted(config_keys(compile_command)) == sorted(KEYS)


@pytest.mark.parametrize(
    ("text", "path", "key", "value"),
    [
        ('[tool.aetherflow]\npaths = ["a"]\n', ("tool", "aetherflow", "paths"), (2, 1), (2, 9)),
        ('tool.aetherflow.output = "d"\n', ("tool", "aetherflow", "output"), (1, 17), (1, 26)),
        (
            '[tool]\naetherflow = { target = "sh", "log-dir" = "/l" }\n',
            ("tool", "aetherflow", "log-dir"),
            (2, 31),
            (2, 43),
        ),
        (
            'a = """\n[tool.aetherflow]\nx = 1\n"""\n[tool.aetherflow]  # c\n\n  k8s.image = \'i\'\n',
            ("tool", "aetherflow", "k8s", "image"),
            (7, 7),
            (7, 15),
        ),
        (
            "x = [\n 1979-05-27 07:32:00Z, # c\n { a = [1, 2] },\n]\n[\"tool\" . 'aetherflow']\nmode = 'x'\n",
            ("tool", "aetherflow", "mode"),
            (6, 1),
            (6, 8),
        ),
    ],
)
def test_key_positions(
    text: str, path: tuple[str, ...], key: tuple[int, int], value: tuple[int, int]
) -> None:
    toml_parser().loads(text)  # the scanner reads only what tomllib accepts
    found = key_positions(text)
    assert found.key(path) == Position(*key)
    assert found.value(path) == Position(*value)
    assert ("tool", "aetherflow", "x") not in found.keys  # nothing inside the multi-line string
