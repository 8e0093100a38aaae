"""Hostile plugins and file systems: every one gets a located error (exit 2) or a clean
usage message, in bounded time; never a traceback, a hang, a corrupted `--json` stdout, a
silently left out flow, a half-written dist or a file written outside -o.

Commands run through the installed console script (a real process: file descriptors 1
and 2, signals and time limits are the ones users have), each with a time bound.
Permissions do not stop root, so the tests that need them run the command as `nobody`
when the suite runs as root (see `run_unprivileged`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

AETHERFLOW = str(Path(sys.executable).parent / "aetherflow")
BOUND = 120  # seconds: a command that takes longer hangs

FLOW = """\
version: 1
flow:
  id: {id}
  workspace: {{root: work, cleanup_policy: never}}
jobs:
  - id: main
    steps:
      - {{id: s0, type: external.process, inputs: {{command: ["true"]}}}}
"""

PLUGIN_FLOW = """\
version: 1
flow:
  id: {id}
  workspace: {{root: work, cleanup_policy: never}}
jobs:
  - id: main
    steps:
      - {{id: s0, type: acme_greet, inputs: {{name: world}}}}
"""

GREET = """\
from aetherflow.core.api import Step, register_step


@register_step("acme_greet")
class Greet(Step):
    required_inputs = {"name"}

    def run(self):
        return {"text": "hello " + self.inputs["name"]}
"""


def af(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = BOUND
) -> subprocess.CompletedProcess[str]:
    """`aetherflow ARGS` in `cwd`, with a compile cache of its own there."""
    full = dict(os.environ, AETHERFLOW_CACHE_DIR=str(cwd / ".cache"))
    full.update(env or {})
    proc = subprocess.run(
        [AETHERFLOW, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
        timeout=timeout,
        errors="surrogateescape",
    )
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def lines(text: str) -> list[str]:
    """The diagnostics of a text report, hints left out."""
    return [
        line for line in text.splitlines() if re.search(r": (error|warning|note) AF\d{3} ", line)
    ]


def project(
    root: Path, flows: dict[str, str] | None = None, plugins: dict[str, str] | None = None
) -> Path:
    for name, text in (flows or {"a.yaml": FLOW.format(id="a")}).items():
        path = root / "flows" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name, text in (plugins or {}).items():
        path = root / "plugins" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- plugins --------------------------------------------------------------------------------


def test_plugin_registrations_the_compiler_cannot_use_are_located_errors(tmp_path: Path) -> None:
    project(
        tmp_path,
        plugins={
            "acme.py": GREET,
            "bad.py": textwrap.dedent("""\
        from aetherflow.core.api import Step, register_connector, register_step


        @register_step(None)
        class Nameless(Step):
            def run(self):
                return {}


        @register_step(5)
        class Numbered(Step):
            def run(self):
                return {}


        @register_step("five")
        class Five(Step):
            required_inputs = 5

            def run(self):
                return {}


        @register_step("letters")
        class Letters(Step):
            required_inputs = "name"

            def run(self):
                return {}


        @register_step("sets")
        class Sets(Step):
            input_schema = {"type": "object", "properties": {"a": {"enum": {1, 2}}}}
            outputs = [1, 2]

            def run(self):
                return {}


        @register_connector(None, 3)
        class Odd:
            pass
        """),
        },
    )
    result = af("validate", "--plugins", "plugins", "flows", cwd=tmp_path)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "plugins/bad.py:4:1: error AF703 register_step: a step type name must be a string, not None (class Nameless)",
        "plugins/bad.py:10:1: error AF703 register_step: a step type name must be a string, not int 5 (class Numbered)",
        "plugins/bad.py:16:1: error AF703 plugin step type five: required_inputs must be a set of input names (strings), "
        "not int 5",
        "plugins/bad.py:24:1: error AF703 plugin step type letters: required_inputs must be a set of input names "
        "(strings), not str 'name'",
        "plugins/bad.py:32:1: error AF703 plugin step type sets: input_schema is not JSON data (TypeError: Object of "
        "type set is not JSON serializable)",
        "plugins/bad.py:41:1: error AF703 register_connector: a connector's kind and driver must be strings, not "
        "tuple (None, 3) (class Odd)",
    ]
    # With the registrations fixed, the same directory loads (the checks are not too eager).
    (tmp_path / "plugins" / "bad.py").unlink()
    assert af("validate", "--plugins", "plugins", "flows", cwd=tmp_path).returncode == 0


def test_an_exception_whose_str_raises_is_reported_at_its_line(tmp_path: Path) -> None:
    project(
        tmp_path,
        plugins={"odd.py": textwrap.dedent("""\
        class Odd(Exception):
            def __str__(self):
                raise ValueError("no text")


        raise Odd()
        """)},
    )
    result = af("validate", "--json", "--plugins", "plugins", "flows", cwd=tmp_path)
    assert result.returncode == 2
    error = json.loads(result.stdout)["errors"][0]
    assert (error["file"], error["line"], error["code"]) == ("plugins/odd.py", 6, "AF703")
    assert error["message"] == "plugin failed to import: Odd: <str() of the exception failed>"


def test_plugin_files_that_cannot_be_read_are_errors_and_are_read_only_once(tmp_path: Path) -> None:
    project(tmp_path, flows={"a.yaml": PLUGIN_FLOW.format(id="a")}, plugins={"acme.py": GREET})
    plugins = tmp_path / "plugins"
    (plugins / "dangling.py").symlink_to("nowhere.py")
    (plugins / "loop.py").symlink_to("loop.py")
    os.mkfifo(plugins / "fifo.py")
    result = af("compile", "--plugins", "plugins", "flows", "-o", "dist", cwd=tmp_path)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "plugins/dangling.py:1:1: error AF703 cannot read plugin file: No such file or directory",
        "plugins/fifo.py:1:1: error AF703 cannot read plugin file: not a regular file but a FIFO",
        "plugins/loop.py:1:1: error AF703 cannot read plugin file: Too many levels of symbolic links",
    ]
    assert not (tmp_path / "dist").exists()
    # Not strict (the engine's AETHERFLOW_PLUGIN_STRICT=false): warnings, and the files are left out.
    loose = af(
        "compile",
        "--plugins",
        "plugins",
        "flows",
        "-o",
        "dist",
        cwd=tmp_path,
        env={"AETHERFLOW_PLUGIN_STRICT": "false"},
    )
    assert loose.returncode == 0, loose.stdout + loose.stderr
    assert [line.split(": ", 1)[1] for line in lines(loose.stdout)] == [
        "warning AF811 cannot read plugin file: No such file or directory; skipped "
        "(AETHERFLOW_PLUGIN_STRICT=false)",
        "warning AF811 cannot read plugin file: not a regular file but a FIFO; skipped "
        "(AETHERFLOW_PLUGIN_STRICT=false)",
        "warning AF811 cannot read plugin file: Too many levels of symbolic links; skipped "
        "(AETHERFLOW_PLUGIN_STRICT=false)",
    ]
    assert listing(tmp_path / "dist" / "aetherflow_plugins") == ["acme.py"]


def test_what_plugins_print_is_kept_off_stdout_and_shown_on_stderr(tmp_path: Path) -> None:
    noisy = textwrap.dedent("""\
        import os
        import subprocess
        import sys

        print("print at import")
        sys.stderr.write("to sys.stderr\\n")
        os.write(1, b"straight to descriptor 1\\n")
        os.write(2, b"straight to descriptor 2\\n")
        subprocess.run(["echo", "from a child process"])
        """) + GREET
    project(tmp_path, flows={"a.yaml": PLUGIN_FLOW.format(id="a")}, plugins={"noisy.py": noisy})
    for args in (
        ["validate", "--json"],
        ["compile", "--json", "-o", "dist"],
        ["compile", "--check", "--json", "-o", "dist"],
    ):
        result = af(*args, "--plugins", "plugins", "flows", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert json.loads(result.stdout)["ok"] is True  # one JSON object, nothing else
        assert result.stderr.startswith(
            "aetherflow: plugins/noisy.py printed while being imported:\n"
            "  print at import\n"
            "  to sys.stderr\n"
            "  straight to descriptor 1\n"
            "  straight to descriptor 2\n"
            "  from a child process\n"
        ), result.stderr
    # Text reports: the plugin's lines go to stderr too, stdout holds the report only.
    text = af("validate", "--plugins", "plugins", "flows", cwd=tmp_path)
    assert text.returncode == 0 and text.stdout == "" and "  print at import\n" in text.stderr
    # The artifact runs the plugin as the engine does: there its output is the flow's.
    run = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "dist" / "a.py"), "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert run.returncode == 0, run.stderr
    assert "print at import" in run.stdout


def test_what_a_plugin_does_to_the_interpreter_stays_out_of_the_compile(tmp_path: Path) -> None:
    """The plugin breaks json and exits from a thread it leaves running: none of it
    reaches the compile, its fork pool (20 flows use it) or its --json output."""
    project(
        tmp_path,
        flows={f"f{i}.yaml": PLUGIN_FLOW.format(id=f"f{i}") for i in range(20)},
        plugins={"rude.py": textwrap.dedent("""\
            import json
            import os
            import sys
            import threading
            import time

            json.dumps = lambda *args, **kwargs: "not json"
            sys.modules["json"].loads = None
            threading.Thread(target=lambda: (time.sleep(30), os._exit(9)), daemon=True).start()
            """) + GREET},
    )
    result = af("compile", "--json", "--plugins", "plugins", "flows", "-o", "dist", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(json.loads(result.stdout)["flows"]) == sorted(f"f{i}" for i in range(20))


def test_a_plugin_that_hangs_at_import_is_stopped_and_located(tmp_path: Path) -> None:
    project(
        tmp_path,
        flows={"a.yaml": PLUGIN_FLOW.format(id="a")},
        plugins={
            "acme.py": GREET,
            "spin.py": "import time\n\n\ntime.sleep(3600)\n",
            "zzz_never.py": "raise RuntimeError('not reached: the import stopped before')\n",
        },
    )
    env = {"AETHERFLOW_PLUGIN_IMPORT_TIMEOUT": "1"}
    for args in (["validate"], ["compile", "-o", "dist"]):
        started = time.monotonic()
        result = af(*args, "--plugins", "plugins", "flows", cwd=tmp_path, env=env, timeout=60)
        assert time.monotonic() - started < 30
        assert result.returncode == 2
        assert lines(result.stdout) == [
            "plugins/spin.py:4:1: error AF703 plugin file did not finish loading within 1 s (importing it); stopped",
        ], result.stdout
        assert (
            "AETHERFLOW_PLUGIN_IMPORT_TIMEOUT=SECONDS gives each file more time (default 30)"
            in result.stdout
        )
    assert not (tmp_path / "dist").exists()
    # Stopped whatever it does: loops, ignores signals, catches every exception, waits on a pipe.
    for text in (
        "import signal\nfor s in (signal.SIGUSR1, signal.SIGTERM, signal.SIGINT):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    try:\n        pass\n"
        "    except BaseException:\n        pass\n",
        "import os\nr, w = os.pipe()\nos.read(r, 1)\n",
        "x = 0\nwhile True:\n    x += 1\n",
    ):
        (tmp_path / "plugins" / "spin.py").write_text(text)
        result = af(
            "validate", "--json", "--plugins", "plugins", "flows", cwd=tmp_path, env=env, timeout=60
        )
        assert result.returncode == 2
        errors = json.loads(result.stdout)["errors"]
        assert [(e["file"], e["code"]) for e in errors] == [("plugins/spin.py", "AF703")]
        assert "did not finish loading within 1 s" in errors[0]["message"]
    # The default gives a normal plugin all the time it needs.
    (tmp_path / "plugins" / "spin.py").write_text("import time\ntime.sleep(1.5)\n")
    (tmp_path / "plugins" / "zzz_never.py").unlink()
    assert af("validate", "--plugins", "plugins", "flows", cwd=tmp_path).returncode == 0


def test_the_import_time_limit_must_be_a_number_of_seconds(tmp_path: Path) -> None:
    project(tmp_path, plugins={"acme.py": GREET})
    for value in ("abc", "0", "-1", "inf", "nan"):
        result = af(
            "validate",
            "--plugins",
            "plugins",
            "flows",
            cwd=tmp_path,
            env={"AETHERFLOW_PLUGIN_IMPORT_TIMEOUT": value},
        )
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.endswith(
            f"Error: AETHERFLOW_PLUGIN_IMPORT_TIMEOUT must be a number of seconds greater "
            f"than 0, not '{value}'\n"
        )
    assert (
        af(
            "validate",
            "--plugins",
            "plugins",
            "flows",
            cwd=tmp_path,
            env={"AETHERFLOW_PLUGIN_IMPORT_TIMEOUT": "2.5"},
        ).returncode
        == 0
    )


def test_a_plugin_that_ends_the_process_is_a_located_error(tmp_path: Path) -> None:
    project(
        tmp_path,
        plugins={
            "acme.py": GREET,
            "quit.py": "import os\nos._exit(7)\n",
            "stop.py": "import sys\nsys.exit(3)\n",
        },
    )
    result = af("validate", "--plugins", "plugins", "flows", cwd=tmp_path)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "plugins/quit.py:1:1: error AF703 plugin file ended the process (exit status 7) while loading",
    ]
    (tmp_path / "plugins" / "quit.py").unlink()
    result = af("validate", "--plugins", "plugins", "flows", cwd=tmp_path)
    assert lines(result.stdout) == [
        "plugins/stop.py:2:1: error AF703 plugin failed to import: SystemExit: 3"
    ]


# --- file systems -----------------------------------------------------------------------------


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory that `nobody` can enter too (pytest's are its owner's only)."""
    root = Path(tempfile.mkdtemp(prefix="af-hostile-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        for folder, dirs, _ in os.walk(root):
            for name in dirs:
                os.chmod(os.path.join(folder, name), 0o755)
        shutil.rmtree(root)


UNPRIVILEGED = """\
import contextlib, os, sys
from aetherflow_compiler.cli.commands import cli, main
args = sys.argv[1:]
if os.geteuid() == 0:
    # The same command first, as root and writing nothing, so that every module it needs
    # is imported while the interpreter's files can be read; then as nobody.
    warm = [*args, "--check", "--no-cache"] if args[0] == "compile" else args
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            cli.main(args=warm, prog_name="aetherflow")
        except SystemExit:
            pass
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
sys.argv[0] = "aetherflow"
main()
"""


def run_unprivileged(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`aetherflow ARGS` as a user whom file permissions stop: this one, or `nobody` when
    the tests run as root (whose interpreter `nobody` cannot read: the command runs as
    root first, writing nothing, so that all it imports is in memory)."""
    full = dict(os.environ, AETHERFLOW_CACHE_DIR=str(cwd / ".cache"), **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-c", UNPRIVILEGED, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full,
        timeout=BOUND,
    )
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    return proc


def test_a_folder_that_cannot_be_read_is_an_error_naming_it(shared_tmp: Path) -> None:
    project(
        shared_tmp,
        flows={"ok/a.yaml": FLOW.format(id="a"), "locked/b.yaml": FLOW.format(id="b")},
        plugins={"acme.py": GREET, "private/helper.py": "X = 1\n"},
    )
    (shared_tmp / ".cache").mkdir(mode=0o777)
    (shared_tmp / ".cache").chmod(0o777)
    (shared_tmp / "flows" / "locked").chmod(0)
    (shared_tmp / "plugins" / "private").chmod(0)
    result = run_unprivileged("validate", "flows", cwd=shared_tmp)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "flows/locked:1:1: error AF100 cannot read folder: Permission denied"
    ]
    compiled = run_unprivileged("compile", "--no-bytecode", "flows", "-o", "dist", cwd=shared_tmp)
    assert compiled.returncode == 2 and lines(compiled.stdout) == lines(result.stdout)
    assert "dist" not in listing(shared_tmp)
    plugins = run_unprivileged("validate", "--plugins", "plugins", "flows/ok", cwd=shared_tmp)
    assert plugins.returncode == 2
    assert lines(plugins.stdout) == [
        "plugins/private:1:1: error AF703 cannot read plugin folder: Permission denied"
    ]
    # A plugin file that cannot be read.
    (shared_tmp / "plugins" / "private").chmod(0o755)
    (shared_tmp / "plugins" / "acme.py").chmod(0)
    plugins = run_unprivileged("validate", "--plugins", "plugins", "flows/ok", cwd=shared_tmp)
    assert lines(plugins.stdout) == [
        "plugins/acme.py:1:1: error AF703 cannot read plugin file: Permission denied"
    ]


def test_outputs_and_caches_that_cannot_be_written(shared_tmp: Path) -> None:
    project(shared_tmp)
    (shared_tmp / "out").mkdir(mode=0o555)
    (shared_tmp / "out").chmod(0o555)
    (shared_tmp / ".cache").mkdir()
    (shared_tmp / ".cache").chmod(0o555)  # a read-only cache: only a slower compile
    result = run_unprivileged("compile", "--no-bytecode", "flows", "-o", "out/dist", cwd=shared_tmp)
    assert result.returncode == 2
    assert result.stderr.startswith("aetherflow: cannot write out/dist: Permission denied")
    assert listing(shared_tmp / "out") == [] and listing(shared_tmp / ".cache") == []
    (shared_tmp / "out").chmod(0o777)
    for _ in range(2):
        result = run_unprivileged(
            "compile", "--no-bytecode", "flows", "-o", "out/dist", cwd=shared_tmp
        )
        assert result.returncode == 0, result.stderr
    assert listing(shared_tmp / "out") == ["dist"] and listing(shared_tmp / ".cache") == []
    # A cache directory that is a file.
    (shared_tmp / "cache-file").write_text("not a folder")
    for _ in range(2):
        result = af(
            "compile",
            "flows",
            "-o",
            "dist",
            cwd=shared_tmp,
            env={"AETHERFLOW_CACHE_DIR": str(shared_tmp / "cache-file")},
        )
        assert result.returncode == 0, result.stderr
    assert (shared_tmp / "cache-file").read_text() == "not a folder"


def test_fifos_sockets_and_folders_named_like_flows_never_block(tmp_path: Path) -> None:
    project(tmp_path, flows={"a.yaml": FLOW.format(id="a"), "x.yaml/b.yaml": FLOW.format(id="b")})
    os.mkfifo(tmp_path / "flows" / "fifo.yaml")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "flows" / "sock.yaml"))
        result = af("validate", "flows", cwd=tmp_path)
        assert result.returncode == 2
        assert lines(result.stdout) == [
            "flows/fifo.yaml:1:1: error AF100 cannot read file: not a regular file but a FIFO",
            "flows/sock.yaml:1:1: error AF100 cannot read file: not a regular file but a socket",
        ]
        assert result.stderr == "2 errors in 2 files (of 4 checked)\n"  # x.yaml/b.yaml is a flow
        for args in (
            ["validate", "flows/fifo.yaml"],
            ["compile", "flows/fifo.yaml", "-o", "dist"],
            ["compile", "--profiles", "flows/fifo.yaml", "flows/a.yaml", "-o", "dist"],
            ["compile", "--schedule", "flows/sock.yaml", "flows/a.yaml", "-o", "dist"],
        ):
            result = af(*args, cwd=tmp_path)
            assert (
                result.returncode == 2
                and "AF100 cannot read file: not a regular file but a" in result.stdout
            )
        assert not (tmp_path / "dist").exists()
    finally:
        sock.close()


def test_links_in_a_searched_folder_are_followed_once(tmp_path: Path) -> None:
    project(tmp_path, flows={"a.yaml": FLOW.format(id="a")})
    project(tmp_path / "shared", flows={"b.yaml": FLOW.format(id="b")})
    flows = tmp_path / "flows"
    (flows / "loop").symlink_to(".")  # a loop
    (flows / "up").symlink_to("..")  # a loop through the parent
    (flows / "shared").symlink_to("../shared/flows")  # a folder elsewhere
    (flows / "again").symlink_to("../shared/flows")  # the same folder twice
    (flows / "gone.yaml").symlink_to(
        "nowhere.yaml"
    )  # listed, then cannot be read (as a file removed meanwhile)
    result = af("validate", "flows", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "flows/gone.yaml:1:1: error AF100 cannot read file: No such file or directory"
    ]
    (flows / "gone.yaml").unlink()
    result = af("compile", "flows", "-o", "dist", cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    assert sorted(manifest["sources"]) == ["a.yaml", "again/b.yaml"]


def test_a_file_name_that_is_not_utf8_compiles_and_reports_as_json(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.yaml")  # Latin-1, as an old file system writes it
    project(tmp_path, flows={name: FLOW.format(id="a")})
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / name).write_text("version: 1\nflow: {id: b}\njobs: 5\n")
    for target in ("python", "all"):
        result = af("compile", "--target", target, "flows", "-o", "dist", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            af(
                "compile", "--target", target, "--check", "flows", "-o", "dist", cwd=tmp_path
            ).returncode
            == 0
        )
        text = (
            (tmp_path / "dist" / "manifest.json").read_bytes().decode("utf-8")
        )  # UTF-8 throughout
        assert json.loads(text)["sources"] == {name: json.loads(text)["sources"][name]}
    assert (
        b"'caf\xe9.yaml'" in (tmp_path / "dist" / "a.sh").read_bytes()
    )  # sh keeps the name's bytes
    run = subprocess.run(
        [sys.executable, "-I", str(tmp_path / "dist" / "a.py"), "run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert run.returncode == 0, run.stderr
    for command in ("validate", "compile"):
        result = subprocess.run(
            [
                AETHERFLOW,
                command,
                "--json",
                "bad",
                *(["-o", "out"] if command == "compile" else []),
            ],
            cwd=tmp_path,
            capture_output=True,
            timeout=BOUND,
            env=dict(os.environ, AETHERFLOW_CACHE_DIR=str(tmp_path / ".cache")),
        )
        assert result.returncode == 2
        report = json.loads(result.stdout.decode("utf-8"))  # valid UTF-8 JSON
        assert report["errors"][0]["file"] == os.path.join("bad", name)


def test_long_names(tmp_path: Path) -> None:
    project(tmp_path, flows={"a.yaml": FLOW.format(id="a")})
    # The longest name a folder may have: written, and nothing left beside it.
    longest = "d" * 255
    result = af("compile", "flows", "-o", longest, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (tmp_path / "flows" / "a.yaml").write_text(FLOW.format(id="a").replace('"true"', '"false"'))
    assert af("compile", "flows", "-o", longest, cwd=tmp_path).returncode == 0
    assert listing(tmp_path) == [".cache", longest, "flows"]
    assert listing(tmp_path / longest)[:2] == ["a.py", "aetherflow_runtime"]
    # A flow id whose artifact name is too long: located at the id.
    project(
        tmp_path / "long",
        flows={"long.yaml": FLOW.format(id="é" * 250), "ok.yaml": FLOW.format(id="i" * 250)},
    )
    result = af("compile", "flows", "-o", "dist", cwd=tmp_path / "long")
    assert result.returncode == 2
    assert lines(result.stdout)[0] == (
        f"flows/long.yaml:3:7: error AF206 flow id '{'é' * 37}...' is too long to name its artifact: '<flow id>.py' "
        "would be a file name of 503 bytes, and file systems allow 255"
    )
    assert "hint: shorten the flow id to at most 252 bytes (UTF-8; 'é' takes 2)" in result.stdout
    assert not (tmp_path / "long" / "dist").exists()
    (tmp_path / "long" / "flows" / "long.yaml").unlink()
    result = af("compile", "--target", "all", "flows", "-o", "dist", cwd=tmp_path / "long")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"i" * 250 + ".py", "i" * 250 + ".sh"} <= set(listing(tmp_path / "long" / "dist"))


def test_an_output_given_as_a_link_is_written_through(tmp_path: Path) -> None:
    project(tmp_path)
    (tmp_path / "releases" / "current").mkdir(parents=True)
    (tmp_path / "dist").symlink_to("releases/current")
    for command in ("true", "false"):
        (tmp_path / "flows" / "a.yaml").write_text(
            FLOW.format(id="a").replace('"true"', f'"{command}"')
        )
        assert af("compile", "flows", "-o", "dist", cwd=tmp_path).returncode == 0
        assert af("compile", "--check", "flows", "-o", "dist", cwd=tmp_path).returncode == 0
        assert (tmp_path / "dist").is_symlink() and os.readlink(
            tmp_path / "dist"
        ) == "releases/current"
        assert f'"{command}"' in (tmp_path / "releases" / "current" / "a.py").read_text()
        assert listing(tmp_path) == [
            ".cache",
            "dist",
            "flows",
            "releases",
        ]  # nothing left beside it
        assert listing(tmp_path / "releases") == ["current"]
    # A link that leads nowhere yet: its target is created.
    (tmp_path / "next").symlink_to("releases/next")
    assert af("compile", "flows", "-o", "next", cwd=tmp_path).returncode == 0
    assert (tmp_path / "releases" / "next" / "a.py").is_file() and (tmp_path / "next").is_symlink()


def test_outputs_among_the_inputs(tmp_path: Path) -> None:
    project(tmp_path)
    scheduler = (
        "timezone: UTC\nitems:\n  - {id: hourly, cron: '0 * * * *', flow_yaml: flows/a.yaml}\n"
    )
    (tmp_path / "scheduler.yaml").write_text(scheduler)
    # The dist inside the folder compiled: its YAML (Kubernetes objects) is no input, now or later.
    for _ in range(2):
        result = af(
            "compile", "flows", "--schedule", "scheduler.yaml", "-o", "flows/dist", cwd=tmp_path
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert (
        tmp_path / "flows" / "dist" / "schedule" / "kubernetes" / "cronjob-hourly.yaml"
    ).is_file()
    assert af("validate", "flows", cwd=tmp_path).stderr == "1 file valid\n"
    # An input inside the output, which the compile replaces: refused.
    (tmp_path / "flows" / "dist" / "mine.yaml").write_text(FLOW.format(id="mine"))
    for args in (
        ["flows/dist/mine.yaml", "-o", "flows/dist"],
        ["flows", "-o", "flows/dist", "--profiles", "flows/dist/mine.yaml"],
    ):
        result = af("compile", *args, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert (
            "is inside the output directory flows/dist, which the compile replaces" in result.stderr
        )
    assert (tmp_path / "flows" / "dist" / "mine.yaml").is_file()
    # An output that is a file: a clean usage message.
    (tmp_path / "file").write_text("keep")
    result = af("compile", "flows", "-o", "file", cwd=tmp_path)
    assert result.returncode == 2 and "'file' is a file" in result.stderr
    assert (tmp_path / "file").read_text() == "keep"


# --- determinism -----------------------------------------------------------------------------


def test_carriage_returns_in_values_survive_the_compile_cache(tmp_path: Path) -> None:
    flow = FLOW.format(id="a").replace(
        'command: ["true"]', 'command: ["true"], env: {X: "a\\r\\nb"}'
    )
    project(tmp_path, flows={"a.yaml": flow})
    for target in ("python", "sh", "all"):
        dist = f"dist-{target}"
        assert af("compile", "--target", target, "flows", "-o", dist, cwd=tmp_path).returncode == 0
        for _ in range(
            2
        ):  # right after (the cache has just been written), and once all of it is cached
            check = af("compile", "--target", target, "--check", "flows", "-o", dist, cwd=tmp_path)
            assert check.returncode == 0, check.stdout + check.stderr
    assert b"\r" in (tmp_path / "dist-sh" / "a.sh").read_bytes()


def test_config_archive_and_output_paths_that_are_not_what_they_seem(tmp_path: Path) -> None:
    project(tmp_path)
    os.mkfifo(tmp_path / "config.toml")
    result = af("validate", "--config", "config.toml", "flows", cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert lines(result.stdout) == [
        "config.toml:1:1: error AF100 cannot read file: not a regular file but a FIFO"
    ]
    # An output folder below a file.
    (tmp_path / "file").write_text("keep")
    result = af("compile", "flows", "-o", "file/dist", cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr == f"aetherflow: cannot write file/dist: {tmp_path}/file is not a directory\n"
    )
    # SHA256SUMS keeps the other lines' bytes (another encoding; a CRLF ends a line, written as LF); a
    # name it cannot hold is refused.
    (tmp_path / "publish").mkdir()
    (tmp_path / "publish" / "SHA256SUMS").write_bytes(b"0" * 64 + b"  caf\xe9.tar.gz\r\n")
    result = af("compile", "flows", "-o", "dist", "--archive", "publish/dist.tar.gz", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    digest = json.loads(
        af(
            "compile",
            "flows",
            "-o",
            "dist",
            "--archive",
            "publish/dist.tar.gz",
            "--json",
            cwd=tmp_path,
        ).stdout
    )["archive"]["sha256"]
    assert (tmp_path / "publish" / "SHA256SUMS").read_bytes() == (
        b"0" * 64 + b"  caf\xe9.tar.gz\n" + digest.encode() + b"  dist.tar.gz\n"
    )
    result = af(
        "compile", "flows", "-o", "dist", "--archive", "publish/two\nlines.tar.gz", cwd=tmp_path
    )
    assert (
        result.returncode == 2
        and "SHA256SUMS cannot name a file whose name holds a line break" in result.stderr
    )
    assert listing(tmp_path / "publish") == ["SHA256SUMS", "dist.tar.gz"]
