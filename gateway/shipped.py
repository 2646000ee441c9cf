"""Where the data beside the code is: config/ of a checkout, share/wellgate/ of an install."""

from __future__ import annotations

import sys
from pathlib import Path

# A checkout (and an editable install) reads the repository's config/ folder; a wheel installs
# the same files under <prefix>/share/wellgate/ (pyproject.toml's data-files), e.g. the Debian
# package's /opt/wellgate/share/wellgate/.
CHECKOUT_DIR = Path(__file__).resolve().parent.parent / "config"
INSTALLED_DIR = Path(sys.prefix) / "share" / "wellgate"


def shipped_dir(name: str) -> Path:
    """The folder `name` (profiles, coefficients, examples) of the checkout, else of the
    installed wheel."""
    checkout = CHECKOUT_DIR / name
    return checkout if checkout.is_dir() else INSTALLED_DIR / name
