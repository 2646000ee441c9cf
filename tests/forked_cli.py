"""Many runs of the wellgate CLI, each a process of its own, forked from one that imported it once.

    python tests/forked_cli.py RUNS.json [MODULE ...]

RUNS.json is a list of runs, each {"argv": [...], "stdout": path, "stderr": path}. Each run is
`wellgate *argv` in a child forked from this process (after `gateway.cli` and the MODULEs, those
a command imports when it runs, are imported), its
stdout and stderr written to the two files; an exception the CLI lets out is printed to its
stderr as the interpreter would print it, with exit status 1. Prints one line per run, the
child's exit status as `python -m gateway` would have it. A fresh interpreter with the CLI's
imports costs 0.5-1 s of this 2-core machine; a fork costs milliseconds, so a test that needs
40 runs of `wellgate verify` spends its time verifying.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

# The gateway of the checkout these tests belong to, before any installed copy.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.cli import main


def _exit_status(exc: SystemExit) -> int:
    """What the interpreter makes of an uncaught SystemExit (a message: printed, status 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _child(argv: list[str], stdout: str, stderr: str) -> int:
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
    # fresh streams on the two descriptors (the parent's may be a test runner's capture)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - flushed by run() before _exit
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    sys.argv = ["wellgate", *argv]
    try:
        main()
        return 0
    except SystemExit as exc:
        return _exit_status(exc)
    except BaseException:  # printed as the interpreter prints an uncaught one
        traceback.print_exc()
        return 1


def run(argv: list[str], stdout: str, stderr: str) -> int:
    """`wellgate *argv` in a forked child; its exit status (negative: killed by that signal)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            status = _child(argv, stdout, stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


if __name__ == "__main__":
    for module in sys.argv[2:]:
        importlib.import_module(module)
    for spec in json.loads(Path(sys.argv[1]).read_text()):
        print(run(spec["argv"], spec["stdout"], spec["stderr"]), flush=True)
