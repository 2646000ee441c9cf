"""The README's example site config is one an installer can start from (issue 14): check-config
takes it, and it has the accounting table that alarms, totals and flags need (as found, it had
none). check-config's summary names the state dir and each uplink (as found, neither)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_example_config_passes_check_config_with_accounting(tmp_path):
    block = re.search(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S).group(1)
    config = tmp_path / "site.toml"
    config.write_text(block, encoding="utf-8")
    assert "accounting" in tomllib.loads(block)["well"]
    done = subprocess.run([sys.executable, "-m", "gateway", "check-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "accounting: metered from flow-meter forward_total; derived from pump-energy" in out
    assert "state dir /var/lib/wellgate (the signed store and the key)" in out
    assert "  uplink city: https https://platform.example/v1/batches; acks signed by" in out
    assert "  uplink county: mqtt broker.county.example:8883 over TLS" in out
