"""Plugins: loaded and checked at compile time, vendored into dist/, run by the artifact."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from aetherflow_compiler.cli.commands import cli
from conftest import CliResult, Project, run_cli

PLUGIN = '''\
"""A plugin written for the reference engine."""
from aetherflow.core.api import (STEP_SKIPPED, ConnectorBase, Step, StepResult,
                                 register_connector, register_step)

from _helpers import shout


@register_connector("kv", "memory")
class Memory(ConnectorBase):
    closed = []

    def get(self, key):
        return self.config["data"][key]

    def close(self):
        with open(self.config["closed_marker"], "a") as fh:
            fh.write(self.name + "\\n")


@register_step("acme_greet")
class Greet(Step):
    required_inputs = {"name"}
    input_schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "times": {"type": "integer", "minimum": 1},
            "kv": {"type": "string"},
        },
        "additionalProperties": False,
    }

    def run(self):
        text = shout(self.inputs["name"]) * int(self.inputs.get("times", 1))
        if self.inputs.get("kv"):
            text += self.ctx.connectors[self.inputs["kv"]].get("suffix")
        self.ctx.log.info("greeted %s", self.inputs["name"])
        return {"text": text}


@register_step("acme_probe")
class Probe(Step):
    def run(self):
        if self.inputs.get("empty"):
            return StepResult(status=STEP_SKIPPED, output={}, reason="nothing_new")
        return {"found": 3}
'''

HELPERS = """\
def shout(name):
    return name.upper() + "!"
"""


def _plugins(root: Path, files: dict[str, str] | None = None) -> Path:
    directory = root / "plugins"
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in (files or {"acme.py": PLUGIN, "_helpers.py": HELPERS}).items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory


def _greet_flow(project: Project, inputs: str = "{name: world, times: 2, kv: store}") -> None:
    marker = project.root / "closed.txt"
    project.write_flow(
        "greet.yaml",
        project.header("greet") + textwrap.dedent(f"""\
        resources:
          store: {{kind: kv, driver: memory, config: {{data: {{suffix: " bye"}}, closed_marker: "{marker}"}}}}
        jobs:
          - id: main
            steps:
              - id: probe
                type: acme_probe
                outputs: {{found: "{{{{result.found}}}}"}}
              - id: hello
                type: acme_greet
                inputs: {inputs}
                outputs: {{text: "{{{{result.text}}}}"}}
          - id: quiet
            steps:
              - id: probe
                type: acme_probe
                inputs: {{empty: true}}
                on_no_data: skip_job
              - id: never
                type: acme_greet
                inputs: {{name: nobody}}
        """),
    )


def _cli(args: list[str], env: dict[str, str]) -> CliResult:
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


@pytest.mark.e2e
def test_engine_style_plugin_is_vendored_and_runs_with_the_standard_library_only(
    project: Project,
) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project)
    project.compile("--plugins", str(plugins))

    assert (project.dist / "aetherflow_plugins" / "acme.py").read_text() == PLUGIN
    assert (project.dist / "aetherflow_plugins" / "_helpers.py").read_text() == HELPERS
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["plugins"] == ["aetherflow_plugins/_helpers.py", "aetherflow_plugins/acme.py"]
    assert "aetherflow_plugins/acme.py" in manifest["artifacts"]
    script = (project.dist / "greet.py").read_text()
    assert '"acme_greet": plugin_step("acme_greet")' in script
    assert '["acme.py"]' in script  # helpers are imported by the plugin, not run on their own

    run = project.run("greet", "run", "--run-id", "r1", check_exit=0)
    assert "plugin_log" in run.stderr and "greeted world" in run.stderr
    status = project.status("greet", "r1")
    assert status["jobs"]["main"]["outputs"] == {"found": 3, "text": "WORLD!WORLD! bye"}
    assert status["jobs"]["quiet"]["status"] == "SKIPPED"
    assert status["jobs"]["quiet"]["steps"] == {"probe": "SKIPPED", "never": "SKIPPED"}
    # One connector per resource and run, closed at the end of the run.
    assert (project.root / "closed.txt").read_text() == "store\n"


def test_plugin_input_schema_and_required_inputs_are_compile_errors(project: Project) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project, "{times: 0, colour: red}")
    result = run_cli(["validate", "--plugins", str(plugins), str(project.flows)])
    assert result.exit_code == 2
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if ": error AF" in line]
    assert lines == [
        "error AF602 missing input 'name' (required by acme_greet) in job 'main', step 'hello'",
        "error AF603 job 'main', step 'hello', inputs.times must be at least 1",
        "error AF601 unknown input 'colour' for acme_greet in job 'main', step 'hello'",
    ]


def test_templated_plugin_inputs_are_not_type_checked_before_they_have_a_value(
    project: Project,
) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project, '{name: world, times: "{{env.TIMES:2}}"}')
    assert run_cli(["validate", "--plugins", str(plugins), str(project.flows)]).exit_code == 0


def test_without_the_plugins_their_types_are_unknown(project: Project) -> None:
    _greet_flow(project)
    result = run_cli(["validate", str(project.flows)])
    assert result.exit_code == 2
    assert "AF306 unknown step type 'acme_probe'" in result.stdout
    assert "a plugin's types need --plugins DIR" in result.stdout
    # No step input names it (the plugin step looks it up): a warning, as the engine builds it lazily.
    assert (
        "AF814 resource 'store': no connector kv:memory, and no step names the resource"
        in result.stdout
    )


def test_a_plugin_that_fails_to_import_is_a_located_compile_error(project: Project) -> None:
    plugins = _plugins(
        project.root,
        {
            "acme.py": PLUGIN,
            "_helpers.py": HELPERS,
            "broken.py": "import os\n\nraise RuntimeError('no licence key')\n",
        },
    )
    _greet_flow(project)
    result = run_cli(
        ["compile", "--plugins", str(plugins), str(project.flows), "-o", str(project.dist)]
    )
    assert result.exit_code == 2
    assert result.stdout == (
        f"{plugins}/broken.py:3:1: error AF703 plugin failed to import: RuntimeError: no licence key\n"
        "  hint: plugins may import aetherflow.core.api, the standard library and their own files\n"
    )
    assert not project.dist.exists()


def test_a_missing_plugin_directory_is_an_error_and_a_replaced_built_in_a_warning(
    project: Project,
) -> None:
    _greet_flow(project)
    result = run_cli(["validate", "--plugins", str(project.root / "nope"), str(project.flows)])
    assert result.exit_code == 2 and "AF703 plugin directory does not exist" in result.stdout

    clash = _plugins(
        project.root,
        {
            "acme.py": PLUGIN,
            "_helpers.py": HELPERS,
            "zip_again.py": textwrap.dedent("""\
                                        from aetherflow.core.api import Step, register_step

                                        @register_step("zip")
                                        class MyZip(Step):
                                            def run(self):
                                                return {}
                                        """),
        },
    )
    result = run_cli(["validate", "--plugins", str(clash), str(project.flows)])
    assert result.exit_code == 0
    assert (
        f"{clash}/zip_again.py:3:1: warning AF809 plugin step type zip (class MyZip) replaces the built-in step type zip"
        in result.stdout
    )


def test_plugin_paths_from_the_environment_and_enterprise_mode(
    project: Project, tmp_path: Path
) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project)
    env = {"AETHERFLOW_PLUGIN_PATHS": str(plugins)}
    assert _cli(["validate", str(project.flows)], env).exit_code == 0
    # Enterprise mode: only plugins named on the command line.
    refused = _cli(["validate", str(project.flows)], {**env, "AETHERFLOW_MODE": "enterprise"})
    assert refused.exit_code == 2 and "AF306 unknown step type 'acme_greet'" in refused.stdout
    assert (
        _cli(
            ["validate", "--plugins", str(plugins), str(project.flows)],
            {**env, "AETHERFLOW_MODE": "enterprise"},
        ).exit_code
        == 0
    )


def test_single_file_cannot_carry_plugins(project: Project) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project)
    result = run_cli(
        [
            "compile",
            "--single-file",
            "--plugins",
            str(plugins),
            str(project.flows),
            "-o",
            str(project.dist),
        ]
    )
    assert result.exit_code == 2
    assert result.stdout.count("AF704") == 5  # the connector and the four plugin steps
    assert "compile without --single-file" in result.stdout


def test_flows_without_plugin_steps_do_not_vendor_plugins(project: Project) -> None:
    plugins = _plugins(project.root)
    project.write_flow(
        "plain.yaml",
        project.header("plain") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - id: s
                type: external.process
                inputs: {command: [true]}
        """),
    )
    project.compile("--plugins", str(plugins))
    assert not (project.dist / "aetherflow_plugins").exists()
    assert "load_plugin_files" not in (project.dist / "plain.py").read_text()


def test_changing_a_plugin_file_recompiles_with_the_cache(project: Project) -> None:
    plugins = _plugins(project.root)
    _greet_flow(project)
    project.compile("--plugins", str(plugins))
    (plugins / "acme.py").write_text(PLUGIN.replace('"minimum": 1', '"minimum": 3'))
    result = run_cli(
        ["compile", "--plugins", str(plugins), str(project.flows), "-o", str(project.dist)]
    )
    assert result.exit_code == 2 and "inputs.times must be at least 3" in result.stdout


def test_output_is_the_same_from_another_directory_and_path(tmp_path: Path) -> None:
    outputs = []
    for name in ("one", "two"):
        project = Project(tmp_path / name)
        _plugins(project.root)
        _greet_flow(project)
        # the flow embeds its own marker path; normalise it so only the compiler can differ
        flow = project.flows / "greet.yaml"
        flow.write_text(flow.read_text().replace(str(project.root), "/srv"))
        cwd = os.getcwd()
        os.chdir(project.root)
        try:
            assert (
                run_cli(["compile", "--plugins", "plugins", "flows", "-o", "dist"]).exit_code == 0
            )
        finally:
            os.chdir(cwd)
        outputs.append(
            {
                p.relative_to(project.dist): p.read_bytes()
                for p in project.dist.rglob("*")
                if p.is_file()
            }
        )
    assert outputs[0] == outputs[1]


@pytest.mark.e2e
def test_plugins_in_subdirectories_load_in_the_engines_order(project: Project) -> None:
    order_file = project.root / "order.txt"
    plugins = _plugins(
        project.root,
        {
            "b.py": f"open({str(order_file)!r}, 'a').write('b\\n')\n",
            "a/z.py": f"open({str(order_file)!r}, 'a').write('a/z\\n')\n",
            "a/_private.py": "raise SystemExit('helpers are not run on their own')\n",
            "acme.py": PLUGIN,
            "_helpers.py": HELPERS,
        },
    )
    _greet_flow(project)
    project.compile("--plugins", str(plugins))
    order_file.unlink()  # compiling ran them once
    project.run("greet", "run", "--run-id", "r1", check_exit=0)
    assert order_file.read_text() == "a/z\nb\n"


@pytest.mark.e2e
def test_with_lock_around_a_plugin_step(project: Project) -> None:
    plugins = _plugins(project.root)
    project.write_flow(
        "locked.yaml",
        project.header("locked") + textwrap.dedent("""\
        jobs:
          - id: a
            steps:
              - id: guarded
                type: with_lock
                inputs:
                  lock_key: greet
                  step: {type: acme_greet, inputs: {name: lock}}
                outputs: {text: "{{result.text}}"}
        """),
    )
    project.compile("--plugins", str(plugins))
    project.run("locked", "run", "--run-id", "r1", check_exit=0)
    assert project.status("locked", "r1")["jobs"]["a"]["outputs"] == {"text": "LOCK!"}
