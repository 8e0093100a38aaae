"""The markers that pick a test loop (tests/conftest.py): each test has exactly one of unit,
e2e and servers, and a unit test cannot start a program or a server unnoticed."""

from __future__ import annotations

import socket
import subprocess

import pytest

from conftest import KINDS


def test_every_test_has_exactly_one_kind(request: pytest.FixtureRequest) -> None:
    items = request.session.items
    assert len(items) > 1
    wrong = [
        (item.nodeid, kinds)
        for item in items
        if len(kinds := [kind for kind in KINDS if item.get_closest_marker(kind)]) != 1
    ]
    assert not wrong


def test_kinds_follow_fixtures_modules_and_own_markers(request: pytest.FixtureRequest) -> None:
    kinds = {
        item.nodeid: next(kind for kind in KINDS if item.get_closest_marker(kind))
        for item in request.session.items
    }
    # Checked for the tests this session collected (all of them in make test and make quick).
    expected = {
        "tests/test_markers.py::test_kinds_follow_fixtures_modules_and_own_markers": "unit",
        "tests/test_step_mail.py::test_plain_mail_with_cc_and_bcc": "servers",  # smtp_server
        "tests/test_runtime_state.py::test_flow_lock_makes_a_concurrent_run_exit_3": "e2e",  # its module
        "tests/test_docs.py::test_the_getting_started_page_runs": "e2e",  # its own marker
        "tests/test_bundle_fetch.py::test_rest_http_500_is_af320": "servers",  # its own marker
    }
    collected = {nodeid: kind for nodeid, kind in expected.items() if nodeid in kinds}
    assert collected and {nodeid: kinds[nodeid] for nodeid in collected} == collected


def test_a_unit_test_that_starts_a_program_fails() -> None:
    with pytest.raises(pytest.fail.Exception, match="starts a program .*mark it @pytest.mark.e2e"):
        subprocess.run(["true"], check=True)


def test_a_unit_test_that_listens_fails() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        with pytest.raises(
            pytest.fail.Exception, match="starts a server: mark it @pytest.mark.servers"
        ):
            sock.listen()
