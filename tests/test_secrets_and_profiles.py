"""Resources at run time: profiles, env templates and decode through the secrets provider.

A small plugin step writes what the resource looks like after resolution to a file, so
the tests see exactly what a connector would be built from.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from conftest import Project

PEEK = """\
import json
from aetherflow.core.api import Step, register_step


@register_step("peek")
class Peek(Step):
    def run(self):
        with open(self.inputs["to"], "w") as fh:
            json.dump(self.ctx.resources[self.inputs["resource"]], fh, sort_keys=True)
        return {}
"""

SECRET = "s3cr3t-Passw0rd"
ENCODED = SECRET[::-1]
PROVIDER = """\
def decode(value):
    if value == "boom":
        raise ValueError("cannot decode " + value)
    return value[::-1]


def expand_env(env):
    env = dict(env)
    env.setdefault("HOST_FROM_PROVIDER", "db.example")
    return env
"""


def _setup(project: Project, resource: str, profiles: str | None = None) -> Path:
    plugins = project.root / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "peek.py").write_text(PEEK)
    (project.root / "provider.py").write_text(PROVIDER)
    out = project.root / "resolved.json"
    project.write_flow(
        "res.yaml",
        project.header("res")
        + "resources:\n"
        + textwrap.indent(textwrap.dedent(resource), "  ")
        + textwrap.dedent(
            f"""\
        jobs:
          - id: a
            steps:
              - id: peek
                type: peek
                inputs: {{resource: db, to: "{out}"}}
        """
        ),
    )
    args = ["--plugins", str(plugins)]
    if profiles is not None:
        (project.root / "profiles.yaml").write_text(profiles)
        args += ["--profiles", str(project.root / "profiles.yaml")]
    project.compile(*args)
    return out


RESOURCE = f"""\
db:
  kind: db
  driver: sqlite3
  config: {{path: "{{{{env.DB_DIR:/tmp}}}}/x.db", host: "{{{{env.HOST_FROM_PROVIDER}}}}"}}
  options: {{token: "{{{{env.TOKEN:{ENCODED}}}}}"}}
  decode: {{options: {{token: true}}}}
"""


def _provider_env(project: Project) -> dict[str, str]:
    return {"AETHERFLOW_SECRETS_PATH": str(project.root / "provider.py")}


def test_decoded_secrets_reach_the_connector_and_never_the_logs(project: Project) -> None:
    out = _setup(project, RESOURCE)
    run = project.run("res", "run", "--run-id", "r1", env=_provider_env(project), check_exit=0)
    assert json.loads(out.read_text()) == {
        "kind": "db",
        "driver": "sqlite3",
        "config": {
            "path": "/tmp/x.db",
            "host": "db.example",
        },  # host: from the provider's expand_env
        "options": {"token": SECRET},
    }
    status = project.run("res", "status", "--run-id", "r1", "--json", env=_provider_env(project))
    everything = run.stdout + run.stderr + status.stdout
    everything += "".join(
        p.read_text(errors="replace") for p in project.work.rglob("*") if p.is_file()
    )
    assert SECRET not in everything
    assert SECRET not in "".join(p.read_text() for p in project.dist.rglob("*.py"))


def test_decode_without_a_provider_fails_the_run_with_exit_2(project: Project) -> None:
    _setup(project, RESOURCE)
    run = project.run("res", "run", "--run-id", "r1", env={"HOST_FROM_PROVIDER": "h"})
    assert run.returncode == 2
    assert (
        "resources.db.options.token must be decoded but no secrets provider is configured "
        "(set AETHERFLOW_SECRETS_PATH or AETHERFLOW_SECRETS_MODULE)"
    ) in run.stderr
    assert "Traceback" not in run.stderr


def test_a_provider_that_raises_fails_with_exit_2_without_echoing_the_value(
    project: Project,
) -> None:
    _setup(project, RESOURCE)
    run = project.run(
        "res", "run", "--run-id", "r1", env={**_provider_env(project), "TOKEN": "boom"}
    )
    assert run.returncode == 2
    assert (
        f"secrets provider file {project.root}/provider.py: decode failed for resources.db.options.token "
        "(ValueError)" in run.stderr
    )
    assert "cannot decode" not in run.stderr and "Traceback" not in run.stderr


def test_a_missing_provider_file_or_module_is_a_clear_error(project: Project) -> None:
    _setup(project, RESOURCE)
    missing = project.run(
        "res", "run", env={"AETHERFLOW_SECRETS_PATH": str(project.root / "nope.py")}
    )
    assert (
        missing.returncode == 2
        and "nope.py (AETHERFLOW_SECRETS_PATH) does not exist" in missing.stderr
    )
    # The module wins over the path, even when the path would work.
    module = project.run(
        "res", "run", env={**_provider_env(project), "AETHERFLOW_SECRETS_MODULE": "no_such_mod"}
    )
    assert module.returncode == 2
    assert (
        "cannot import the secrets module no_such_mod (AETHERFLOW_SECRETS_MODULE)" in module.stderr
    )


def test_secrets_module_next_to_the_artifact(project: Project) -> None:
    out = _setup(project, RESOURCE)
    (project.dist / "team_secrets.py").write_text(PROVIDER)
    project.run("res", "run", env={"AETHERFLOW_SECRETS_MODULE": "team_secrets"}, check_exit=0)
    assert json.loads(out.read_text())["options"]["token"] == SECRET


PROFILED = """\
db:
  kind: db
  driver: sqlite3
  profile: local
  config: {path: /data/flow.db}
  options: {timeout: 9}
"""

PROFILES = f"""\
local:
  config: {{path: /data/profile.db, user: "{{{{env.DB_USER:etl}}}}"}}
  options: {{timeout: 5, retries: 2, token: "{ENCODED}"}}
  decode: {{options: {{token: true}}}}
"""


def test_profiles_are_merged_at_compile_time(project: Project) -> None:
    out = _setup(project, PROFILED, PROFILES)
    project.run("res", "run", env=_provider_env(project), check_exit=0)
    assert json.loads(out.read_text()) == {
        "kind": "db",
        "driver": "sqlite3",
        "config": {"path": "/data/flow.db", "user": "etl"},  # the flow wins; the profile adds
        "options": {"timeout": 9, "retries": 2, "token": SECRET},
    }


def test_profiles_unknown_at_compile_time_come_from_the_environment_at_run_time(
    project: Project,
) -> None:
    out = _setup(project, PROFILED)
    profiles = {
        "local": {
            "config": {"user": "svc"},
            "options": {"retries": 4, "token": ENCODED},
            "decode": {"options": {"token": True}},
        }
    }
    env = {**_provider_env(project), "AETHERFLOW_PROFILES_JSON": json.dumps(profiles)}
    project.run("res", "run", env=env, check_exit=0)
    assert json.loads(out.read_text())["options"] == {"timeout": 9, "retries": 4, "token": SECRET}
    assert json.loads(out.read_text())["config"] == {"path": "/data/flow.db", "user": "svc"}

    bad = project.run("res", "run", env={"AETHERFLOW_PROFILES_JSON": "local: {}"})
    assert bad.returncode == 2
    assert "profiles given at run time must be JSON (compiled flows never parse YAML)" in bad.stderr
