"""The pytest plugin's fixtures, run in inner pytest sessions (pytester), and the example sender project."""

from __future__ import annotations

import importlib.metadata
import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sender"


def plugin_args() -> list[str]:
    """Load the plugin by module name unless the installed package already declares its entry point."""
    if any(ep.name == "cpimock" for ep in importlib.metadata.entry_points(group="pytest11")):
        return []
    return ["-p", "cpimock.pytest_plugin"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*plugin_args(), "-p", "no:cacheprovider", *args)


@pytest.mark.slow  # a pytest session in a subprocess; the fast tier keeps one, the step exception
def test_the_example_sender_project_passes(pytester: pytest.Pytester) -> None:
    for name in ("orders_client.py", "test_orders_client.py"):
        shutil.copy(EXAMPLE / name, pytester.path / name)
    result = run(pytester, "-q")
    result.assert_outcomes(passed=4)


@pytest.mark.slow  # a pytest session in a subprocess; the fast tier keeps one, the step exception
def test_the_session_tenant_is_cleared_between_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def echo(message):
            return message

        def test_first(cpimock_tenant, cpimock_service_key):
            flow = cpimock_tenant.iflow("/first", steps=[echo])
            key = cpimock_service_key("s4")
            with requests.Session() as s:
                assert s.post(flow.url, data=b"1", cert=key.cert, verify=str(cpimock_tenant.ca_path)).text == "1"
            assert len(cpimock_tenant.messages()) == 1

        def test_second(cpimock_tenant, cpimock_service_key):
            assert cpimock_tenant.messages() == []
            with requests.Session() as s:
                gone = s.post(cpimock_tenant.url + "/http/first", cert=cpimock_service_key("s4").cert,
                              verify=str(cpimock_tenant.ca_path))
            assert gone.status_code == 404

        def test_fresh_tenant_is_another(cpimock_tenant, cpimock_fresh_tenant):
            assert cpimock_fresh_tenant.port != cpimock_tenant.port
        """
    )
    run(pytester, "-q").assert_outcomes(passed=3)


def test_a_step_exception_fails_the_test_that_caused_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import requests

        def broken(message):
            raise LookupError("no such customer")

        def test_calls_a_broken_step(cpimock_tenant):
            flow = cpimock_tenant.iflow("/broken", steps=[broken])
            with requests.Session() as s:
                r = s.post(flow.url, data=b"x", cert=cpimock_tenant.demo_key.cert, verify=str(cpimock_tenant.ca_path))
            assert r.status_code == 500

        def test_next_one_is_not_blamed(cpimock_tenant):
            assert cpimock_tenant.messages() == []
        """
    )
    result = run(pytester, "-q")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_calls_a_broken_step*", "*LookupError: no such customer*"])


@pytest.mark.slow  # a pytest session in a subprocess; the fast tier keeps one, the step exception
def test_options_fixture_configures_the_tenants(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def cpimock_tenant_options():
            return {"client_auth": "required"}
        """
    )
    pytester.makepyfile(
        """
        import pytest, requests

        def test_no_certificate_no_handshake(cpimock_tenant):
            with pytest.raises(requests.exceptions.RequestException), requests.Session() as s:
                s.get(cpimock_tenant.url + "/http/clientCertAuth", verify=str(cpimock_tenant.ca_path))

        def test_with_certificate(cpimock_tenant):
            with requests.Session() as s:
                r = s.get(cpimock_tenant.url + "/http/clientCertAuth", cert=cpimock_tenant.demo_key.cert,
                          verify=str(cpimock_tenant.ca_path))
            assert r.status_code == 200
        """
    )
    run(pytester, "-q").assert_outcomes(passed=2)
