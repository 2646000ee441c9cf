"""The [status] table: listen and token_file are checked like the rest of the config; a token
file that is missing, empty or short stops check-config and run (exit 2, file, key path,
value, what is allowed); one others may read is warned about, as a config holding a secret is."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from site_config import BASE, load_site, site_errors

from gateway.cli import cli

TOKEN = "0123456789abcdef0123"


def test_a_good_status_table_loads(tmp_path):
    config = load_site(tmp_path, '[status]\nlisten = "0.0.0.0:8080"\n'
                                 'token_file = "status.token"\n')
    assert config.status is not None and config.status.listen == "0.0.0.0:8080"
    assert config.config_path(config.status.token_file) == (tmp_path / "status.token")
    assert load_site(tmp_path).status is None


@pytest.mark.parametrize("listen", ["8080", "host:", "host:0", "host:65536", ":8080",
                                    "a b:80", "[::1:80"])
def test_a_listen_that_is_not_host_and_port_is_named(tmp_path, listen):
    errors = site_errors(tmp_path, f'[status]\nlisten = "{listen}"\ntoken_file = "t"\n')
    assert errors == [f'status.listen = "{listen}": expected HOST:PORT to serve on, a port '
                      '1..65535, '
                      'e.g. "0.0.0.0:8080" (every interface) or "192.168.4.1:8080"'], errors


def test_listen_may_be_an_ipv6_address(tmp_path):
    config = load_site(tmp_path, '[status]\nlisten = "[::1]:8443"\ntoken_file = "t"\n')
    from gateway.config.status import split_listen
    assert split_listen(config.status.listen) == ("::1", 8443)


def test_missing_keys_and_unknown_keys_are_named(tmp_path):
    errors = site_errors(tmp_path, '[status]\nport = 80\n')
    assert any(e.startswith("status.listen: missing; expected HOST:PORT") for e in errors), errors
    assert any(e.startswith("status.token_file: missing") for e in errors), errors
    assert any(e.startswith("status.port: unknown key") for e in errors), errors


def _check(tmp_path, token: bytes | None, mode: int = 0o600):
    config = tmp_path / "site.toml"
    config.write_text(BASE + textwrap.dedent("""
        [status]
        listen = "127.0.0.1:8080"
        token_file = "status.token"
        """), encoding="utf-8")
    if token is not None:
        (tmp_path / "status.token").write_bytes(token)
        (tmp_path / "status.token").chmod(mode)
    return CliRunner().invoke(cli, ["check-config", str(config)])


def test_a_missing_token_file_is_an_error_with_file_line_and_key(tmp_path):
    result = _check(tmp_path, None)
    assert result.exit_code == 2, result.output
    token = tmp_path / "status.token"
    assert (f'{tmp_path / "site.toml"}:17: status.token_file = "status.token": expected an '
            f"existing file holding the token ({token} does not exist") in result.output
    assert "1 error(s)" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("content, found", [(b"", "is empty"), (b"  \n", "is empty"),
                                            (b"short-token\n", "holds 11 characters")])
def test_an_empty_or_short_token_is_an_error(tmp_path, content, found):
    result = _check(tmp_path, content)
    assert result.exit_code == 2, result.output
    assert "a token of at least 16 characters" in result.output
    assert f"{tmp_path / 'status.token'} {found}" in result.output


def test_a_token_file_others_may_read_is_warned_about_and_never_shown(tmp_path):
    result = _check(tmp_path, TOKEN.encode() + b"\n", mode=0o644)
    assert result.exit_code == 0, result.output
    assert (f"warning: {tmp_path / 'status.token'} holds the status page's token and is "
            f"readable by group and others (mode 0644); make it the gateway user's alone: "
            f"chmod 600 {tmp_path / 'status.token'}") in result.output
    assert TOKEN not in result.output
    quiet = _check(tmp_path, TOKEN.encode(), mode=0o600)
    assert quiet.exit_code == 0 and "warning" not in quiet.output, quiet.output
    assert (f"status page, /api/status and /metrics on http://127.0.0.1:8080/ (token in "
            f"{tmp_path / 'status.token'})") in quiet.output


def test_run_refuses_a_missing_token_file_before_it_starts(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(BASE + '[status]\nlisten = "127.0.0.1:8080"\ntoken_file = "none.token"\n',
                      encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "gateway", "run", "--config", str(config)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert 'status.token_file = "none.token": expected an existing file' in run.stderr
    assert "Traceback" not in run.stderr


def test_the_web_stack_is_not_imported_unless_status_is_configured():
    code = ("import sys, gateway.cli, gateway.daemon, gateway.cli.site, gateway.config; "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'prometheus_client', "
            "'gateway.status') if m in sys.modules))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=60)
    assert found.stdout.strip() == "[]", found


def test_a_status_port_already_taken_is_logged_and_polling_goes_on(tmp_path):
    import signal
    import socket
    import time

    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    config = tmp_path / "site.toml"
    site = BASE.replace("/dev/ttyUSB0", str(tmp_path / "no-such-port"))
    config.write_text(site + textwrap.dedent(f"""
        [gateway]
        runtime_dir = "{tmp_path}/run"
        state_dir = "{tmp_path}/state"

        [status]
        listen = "127.0.0.1:{port}"
        token_file = "status.token"
        """), encoding="utf-8")
    (tmp_path / "status.token").write_text(TOKEN)
    (tmp_path / "status.token").chmod(0o600)
    subprocess.run([sys.executable, "-m", "gateway", "init", "--config", str(config)],
                   check=True, capture_output=True, timeout=60)
    log = tmp_path / "run.log"
    with open(log, "w") as out:
        gateway = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config",
                                    str(config)], stderr=out)
        try:
            deadline = time.monotonic() + 30
            while "status page not served" not in log.read_text():
                assert time.monotonic() < deadline and gateway.poll() is None, log.read_text()
                time.sleep(0.1)
            health = tmp_path / "run" / "health.json"
            while not health.exists():  # the gateway goes on: its first health snapshot
                assert time.monotonic() < deadline and gateway.poll() is None, log.read_text()
                time.sleep(0.1)
            time.sleep(1.0)
            assert gateway.poll() is None, log.read_text()  # still metering
        finally:
            gateway.send_signal(signal.SIGTERM)
            gateway.wait(timeout=30)
            taken.close()
    assert gateway.returncode == 0, log.read_text()
    assert "Address already in use" in log.read_text()
