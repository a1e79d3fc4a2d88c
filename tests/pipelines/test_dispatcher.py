"""``python -m pipelines``: the job table names every job by its own ``NAME``, and a job loads only its module."""

from __future__ import annotations

import importlib
import subprocess
import sys

from pipelines.__main__ import JOBS
from pitwall import REPO_DIR
from pitwall.devserver import repo_env


def test_every_job_is_registered_under_its_own_name() -> None:
    for name, module in JOBS.items():
        assert name == importlib.import_module(module).NAME


def test_a_job_imports_only_its_own_module() -> None:
    probe = (
        "import sys; from pipelines.__main__ import main; "
        "code = main(['track', '--db', sys.argv[1], 'list']); "
        "print(sorted(m for m in sys.modules if m.startswith(('pipelines.', 'dask', 'pitwall.lake'))))"
    )
    out = (
        subprocess.run(
            [sys.executable, "-c", probe, str(REPO_DIR / "no-such-dir" / "x.duckdb")],
            cwd=REPO_DIR,
            env=repo_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    assert out == "['pipelines.__main__', 'pipelines.track']"
