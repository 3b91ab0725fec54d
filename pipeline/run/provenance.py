"""Provenance: which inputs, parameters, code and packages produced an output."""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

from .. import __version__
from .paths import REPO_ROOT

# The packages whose versions can change a number in a report.
KEY_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "matplotlib",
    "pyarrow",
    "papermill",
    "nbconvert",
    "pydantic",
)


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def code_version() -> dict[str, str | bool | None]:
    """The package version and, inside a git checkout, the commit and whether the tree is dirty."""
    info: dict[str, str | bool | None] = {
        "package_version": __version__,
        "git_commit": None,
        "git_dirty": None,
    }
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "pipeline", "notebooks"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        info["git_commit"] = commit
        info["git_dirty"] = bool(status.strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    return info


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    versions = {"python": platform.python_version()}
    for name in KEY_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def portable_path(path: str | Path) -> str:
    """A path that means the same on every machine: relative to the project when inside it,
    otherwise the file's study folder and name (the hash identifies the content)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return Path(path.parent.name, path.name).as_posix()


def provenance_record(inputs: dict[str, str | Path], parameters: dict | None = None) -> dict:
    """A JSON-ready record of inputs (with hashes), parameters, code and package versions."""
    return {
        "inputs": {
            label: {"path": portable_path(path), "sha256": sha256_file(path)}
            for label, path in inputs.items()
        },
        "parameters": dict(parameters or {}),
        "code": code_version(),
        "packages": package_versions(),
    }
