"""smb_* steps: without a test SMB server here, these check what a host without the
driver package sees, and the remote path forms the connectors accept (as the engine's)."""

from __future__ import annotations

import textwrap

import pytest

from aetherflow_compiler._runtime.connectors import ConnectorError
from aetherflow_compiler._runtime.connectors.smb import split_share_path
from conftest import Project


@pytest.mark.parametrize(("driver", "package"), [("smbclient", "smbprotocol"), ("pysmb", "pysmb")])
def test_missing_driver_package_is_named_by_check_env_and_the_run(
    project: Project, driver: str, package: str
) -> None:
    project.write_flow(
        "m.yaml",
        project.header("m") + textwrap.dedent(f"""\
        resources:
          share: {{kind: smb, driver: {driver}, config: {{server: files.example, share: DATA, username: u}}}}
        jobs:
          - id: fetch
            steps:
              - id: list
                type: smb_list_files
                inputs: {{resource: share, remote_dir: "DATA:/inbox", pattern: "*.csv"}}
              - id: get
                type: smb_download_files
                inputs: {{resource: share, files: "{{{{steps.list.files}}}}", dest_dir: in}}
        """),
    )
    project.compile()
    check = project.run("m", "check-env")
    assert (
        check.returncode == 2 and f"package {package}" in check.stdout and "MISSING" in check.stdout
    )
    run = project.run("m", "run", host_packages=True)
    assert run.returncode == 1
    assert (
        f"driver smb:{driver} needs the Python package '{package}' on this host (pip install {package})"
        in run.stderr
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("dir/file.txt", ("DATA", "dir/file.txt")),
        ("/dir/file.txt", ("DATA", "dir/file.txt")),
        ("OTHER:/dir/file.txt", ("OTHER", "dir/file.txt")),
        ("OTHER:\\dir\\file.txt", ("OTHER", "dir/file.txt")),
        ("C:\\dir\\file.txt", ("DATA", "dir/file.txt")),
        ("C:/dir", ("DATA", "dir")),
        ("\\\\host\\SHARE\\dir\\file.txt", ("DATA", "dir/file.txt")),
    ],
)
def test_remote_path_forms(path: str, expected: tuple[str, str]) -> None:
    assert split_share_path(path, "DATA") == expected


def test_unc_path_names_the_share_when_none_is_configured() -> None:
    assert split_share_path("\\\\host\\SHARE\\dir\\f", None) == ("SHARE", "dir/f")
    with pytest.raises(ConnectorError, match="needs a share"):
        split_share_path("dir/f", None)
