"""rest:httpx in compiled artifacts: plugin steps call `ctx.connectors["api"]` against a real
HTTP(S) server on 127.0.0.1 that the tests start, which records every request it gets."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import Project
from peers import Certificate, HttpServer, serve_http, tls_server_context

PLUGIN = '''\
"""Steps written for the reference engine that use a rest:httpx resource."""
import asyncio

from aetherflow.core.api import Step, register_step


def _answer(response):
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return {"status": response.status_code, "body": body}


@register_step("api_call")
class ApiCall(Step):
    required_inputs = {"resource", "path"}

    def run(self):
        api = self.ctx.connectors[self.inputs["resource"]]
        method = self.inputs.get("method", "GET")
        kwargs = {k: self.inputs[k] for k in ("params", "headers", "json", "content", "timeout")
                  if k in self.inputs}
        if method in ("GET", "POST", "PUT", "DELETE") and self.inputs.get("shortcut"):
            response = getattr(api, method.lower())(self.inputs["path"], **kwargs)
        else:
            response = api.request(method, self.inputs["path"], **kwargs)
        out = _answer(response)
        out["base_url"] = api.base_url()
        out["headers"] = api.headers()
        return out


@register_step("api_async")
class ApiAsync(Step):
    required_inputs = {"resource", "path"}

    def run(self):
        api = self.ctx.connectors[self.inputs["resource"]]

        async def fetch():
            return await api.async_client().get(self.inputs["path"])

        return _answer(asyncio.run(fetch()))
'''


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    yield from serve_http()


@pytest.fixture
def https_server(localhost_cert: Certificate) -> Iterator[HttpServer]:
    yield from serve_http(tls_server_context(localhost_cert))


def _flow(project: Project, resource: str, steps: str) -> None:
    plugins = project.root / "plugins"
    plugins.mkdir(exist_ok=True)
    (plugins / "api_steps.py").write_text(PLUGIN)
    project.write_flow(
        "api.yaml",
        project.header("api")
        + "resources:\n  api:\n"
        + textwrap.indent(textwrap.dedent(resource), "    ")
        + "jobs:\n  - id: call\n    steps:\n"
        + textwrap.indent(textwrap.dedent(steps), "      "),
    )
    project.compile("--plugins", str(plugins))


def _outputs(project: Project, run_id: str = "r1") -> dict[str, Any]:
    return project.status("api", run_id)["jobs"]["call"]["outputs"]  # type: ignore[no-any-return]


def test_requests_json_headers_and_base_url_joining(
    project: Project, http_server: HttpServer
) -> None:
    _flow(
        project,
        """\
        kind: rest
        driver: httpx
        config:
          base_url: "{{env.API_URL}}/api/v1/"
          headers: {X-Team: data}
          bearer_token: "{{env.API_TOKEN}}"
        """,
        """\
        - id: get
          type: api_call
          inputs: {resource: api, path: /orders, params: {day: "2026-01-02"}, headers: {X-Trace: t-1}}
          outputs: {get: "{{result.body}}", status: "{{result.status}}", base_url: "{{result.base_url}}",
                    headers: "{{result.headers}}"}
        - id: post
          type: api_call
          inputs: {resource: api, method: POST, path: orders, json: {id: 7, items: [a, b]}, shortcut: true}
          outputs: {post: "{{result.body}}"}
        - id: put
          type: api_call
          inputs: {resource: api, method: PUT, path: "orders/7", content: "raw text", shortcut: true}
          outputs: {put: "{{result.body.body}}"}
        - id: delete
          type: api_call
          inputs: {resource: api, method: DELETE, path: "orders/7", shortcut: true}
          outputs: {delete: "{{result.body.method}}"}
        - id: absolute
          type: api_call
          inputs: {resource: api, path: "{{env.API_URL}}/health"}
          outputs: {absolute: "{{result.body.path}}"}
        """,
    )
    env = {"API_URL": http_server.url, "API_TOKEN": "tok-123"}
    project.run("api", "run", "--run-id", "r1", env=env, host_packages=True, check_exit=0)
    outputs = _outputs(project)
    assert outputs["status"] == 200
    assert outputs["base_url"] == f"{http_server.url}/api/v1"
    assert outputs["headers"] == {"X-Team": "data", "Authorization": "Bearer tok-123"}
    assert outputs["get"] == {
        "method": "GET",
        "path": "/api/v1/orders",
        "query": {"day": ["2026-01-02"]},
        "auth": "Bearer tok-123",
        "team": "data",
        "trace": "t-1",
        "body": None,
    }
    assert (
        outputs["post"]["body"] == {"id": 7, "items": ["a", "b"]}
        and outputs["post"]["method"] == "POST"
    )
    assert outputs["put"] == "raw text"
    assert outputs["delete"] == "DELETE"
    assert outputs["absolute"] == "/health"
    assert http_server.paths() == [
        "/api/v1/orders",
        "/api/v1/orders",
        "/api/v1/orders/7",
        "/api/v1/orders/7",
        "/health",
    ]
    post = http_server.seen[1]
    assert post.headers["content-type"] == "application/json" and json.loads(post.body) == {
        "id": 7,
        "items": ["a", "b"],
    }
    assert all(s.headers["authorization"] == "Bearer tok-123" for s in http_server.seen)
    assert "tok-123" not in (project.dist / "api.py").read_text()


def test_error_statuses_are_answers_and_are_not_retried(
    project: Project, http_server: HttpServer
) -> None:
    _flow(
        project,
        """\
        {kind: rest, driver: httpx, config: {base_url: "{{env.API_URL}}"}, options: {retries: 3}}
        """,
        """\
        - id: missing
          type: api_call
          inputs: {resource: api, path: /status/404}
          outputs: {missing: "{{result.status}}"}
        - id: broken
          type: api_call
          inputs: {resource: api, path: /status/503}
          outputs: {broken: "{{result.status}}"}
        """,
    )
    started = time.monotonic()
    project.run(
        "api",
        "run",
        "--run-id",
        "r1",
        env={"API_URL": http_server.url},
        host_packages=True,
        check_exit=0,
    )
    assert time.monotonic() - started < 20
    assert _outputs(project) == {"missing": 404, "broken": 503}
    assert http_server.attempts == {"/status/404": 1, "/status/503": 1}


def test_dropped_connections_are_retried(project: Project, http_server: HttpServer) -> None:
    _flow(
        project,
        """\
        {kind: rest, driver: httpx, config: {base_url: "{{env.API_URL}}"}, options: {retry: {max_attempts: 2}}}
        """,
        """\
        - id: recovers
          type: api_call
          inputs: {resource: api, path: /flaky/a, params: {fail: 2}}
          outputs: {recovered: "{{result.status}}"}
        - id: gives_up
          type: api_call
          inputs: {resource: api, path: /flaky/b, params: {fail: 5}}
        """,
    )
    started = time.monotonic()
    run = project.run(
        "api", "run", "--run-id", "r1", env={"API_URL": http_server.url}, host_packages=True
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 1, run.stderr
    # 1 + 2 attempts each; waits of 1 and 2 seconds between them.
    assert http_server.attempts == {"/flaky/a": 3, "/flaky/b": 3}
    assert elapsed >= 6
    assert (
        "REST request failed after 3 attempt(s): GET /flaky/b (RemoteProtocolError: " in run.stderr
    )
    status = project.status("api", "r1")["jobs"]["call"]
    assert status["status"] == "FAILED" and status["steps"] == {
        "recovers": "SUCCESS",
        "gives_up": "FAILED",
    }
    assert status["outputs"] == {"recovered": 200}


def test_timeouts_fail_the_request_and_a_call_may_allow_more(
    project: Project, http_server: HttpServer
) -> None:
    _flow(
        project,
        """\
        {kind: rest, driver: httpx, config: {base_url: "{{env.API_URL}}"}, options: {timeouts: {total: 0.3}}}
        """,
        """\
        - id: patient
          type: api_call
          inputs: {resource: api, path: /slow/a, params: {seconds: 0.6}, timeout: 5}
          outputs: {patient: "{{result.status}}"}
        - id: hasty
          type: api_call
          inputs: {resource: api, path: /slow/b, params: {seconds: 3}}
        """,
    )
    started = time.monotonic()
    run = project.run(
        "api", "run", "--run-id", "r1", env={"API_URL": http_server.url}, host_packages=True
    )
    assert run.returncode == 1
    assert time.monotonic() - started < 3, "the 0.3 s timeout ended the request, not the server"
    assert "REST request failed after 1 attempt(s): GET /slow/b (ReadTimeout: " in run.stderr
    assert _outputs(project) == {"patient": 200}
    assert http_server.attempts == {"/slow/a": 1, "/slow/b": 1}


def test_certificates_are_verified_unless_verify_ssl_is_false(
    project: Project, https_server: HttpServer, localhost_cert: Certificate
) -> None:
    _flow(
        project,
        """\
        kind: rest
        driver: httpx
        config: {base_url: "{{env.API_URL}}"}
        options: {verify_ssl: "{{env.VERIFY:true}}", ca_file: "{{env.CA_FILE:}}"}
        """,
        """\
        - id: get
          type: api_call
          inputs: {resource: api, path: /secure}
          outputs: {path: "{{result.body.path}}"}
        """,
    )
    env = {"API_URL": https_server.url}
    refused = project.run("api", "run", "--run-id", "default", env=env, host_packages=True)
    assert refused.returncode == 1
    assert "REST request failed after 1 attempt(s): GET /secure (ConnectError: " in refused.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stderr
    assert https_server.seen == [], "nothing was sent to a server whose certificate failed"
    project.run(
        "api",
        "run",
        "--run-id",
        "unverified",
        env={**env, "VERIFY": "false"},
        host_packages=True,
        check_exit=0,
    )
    project.run(
        "api",
        "run",
        "--run-id",
        "ca",
        env={**env, "CA_FILE": str(localhost_cert.cert)},
        host_packages=True,
        check_exit=0,
    )
    assert _outputs(project, "unverified") == _outputs(project, "ca") == {"path": "/secure"}
    assert https_server.paths() == ["/secure", "/secure"]


def test_async_client(project: Project, http_server: HttpServer) -> None:
    _flow(
        project,
        """\
        {kind: rest, driver: httpx, config: {base_url: "{{env.API_URL}}", bearer_token: t}}
        """,
        """\
        - id: get
          type: api_async
          inputs: {resource: api, path: /async}
          outputs: {body: "{{result.body}}"}
        """,
    )
    run = project.run(
        "api",
        "run",
        "--run-id",
        "r1",
        env={"API_URL": http_server.url},
        host_packages=True,
        check_exit=0,
    )
    assert "connector_close_failed" not in run.stderr
    assert _outputs(project)["body"]["auth"] == "Bearer t"
    assert http_server.paths() == ["/async"]


def test_without_httpx_the_step_fails_naming_the_package(
    project: Project, http_server: HttpServer
) -> None:
    _flow(
        project,
        """\
        {kind: rest, driver: httpx, config: {base_url: "{{env.API_URL}}"}}
        """,
        """\
        - id: get
          type: api_call
          inputs: {resource: api, path: /x}
        """,
    )
    manifest = json.loads((project.dist / "manifest.json").read_text())
    assert manifest["flows"]["api"]["packages"] == ["httpx"]
    assert (project.dist / "aetherflow_runtime" / "connectors" / "rest.py").is_file()
    run = project.run("api", "run", "--run-id", "r1", env={"API_URL": http_server.url})
    assert run.returncode == 1
    assert (
        "driver rest:httpx needs the Python package 'httpx' on this host (pip install httpx)"
        in run.stderr
    )
    assert project.status("api", "r1")["jobs"]["call"]["steps"] == {"get": "FAILED"}
    check = project.run("api", "check-env", env={"API_URL": "x"})
    assert check.returncode == 2 and "package httpx" in check.stdout and "MISSING" in check.stdout
    assert http_server.seen == []


@pytest.mark.unit
def test_rest_module_is_vendored_only_when_used(project: Project) -> None:
    project.flow(
        "plain",
        """\
        jobs:
          - id: a
            steps:
              - {id: s, type: check_items, inputs: {items: "x"}}
        """,
    )
    assert not (project.dist / "aetherflow_runtime" / "connectors" / "rest.py").exists()
