from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services_app.capabilities.pipelines.definitions import SERVICES_DIR

REPO = SERVICES_DIR.parent


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def pipeline_repo(tmp_path):
    """A temporary git + DVC repository with the repository's layout: Services/DVC/<pipelines>,
    model_tests.yaml and a copy of services_app (the code the stages import)."""

    def make(*names: str) -> Path:
        root = tmp_path / "repo"
        services = root / "Services"
        for name in names:
            shutil.copytree(
                SERVICES_DIR / "DVC" / name,
                services / "DVC" / name,
                ignore=shutil.ignore_patterns("data", "models", "__pycache__", "dvc.lock", "metrics"),
            )
        shutil.copy(SERVICES_DIR / "DVC" / "model_tests.yaml", services / "DVC" / "model_tests.yaml")
        shutil.copytree(
            SERVICES_DIR / "services_app", services / "services_app", ignore=shutil.ignore_patterns("__pycache__")
        )
        (root / ".dvcignore").write_text("**/__pycache__/\n")
        _git("init", "-q", "-b", "main", cwd=root)
        _git("config", "user.email", "t@example.com", cwd=root)
        _git("config", "user.name", "t", cwd=root)
        subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
        _git("add", "-A", cwd=root)
        _git("commit", "-q", "-m", "pipelines", cwd=root)
        return root

    return make
