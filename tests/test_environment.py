"""The environment is pinned, and conda users get the same pins."""

from __future__ import annotations

import re

import yaml

from pipeline.run.provenance import REPO_ROOT

LOCKS = ("requirements.lock", "requirements-dev.lock")
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", re.MULTILINE)


def _lock(name: str | None = None) -> dict[str, str]:
    """The pins of one lock, or of both (they agree where they overlap)."""
    pins: dict[str, str] = {}
    for lock in (name,) if name else LOCKS:
        for found in PIN.finditer((REPO_ROOT / lock).read_text()):
            pins[found[1].lower()] = found[2]
    return pins


def _requirements(lines: str) -> list[str]:
    return [
        line.split("#")[0].strip().lower()
        for line in lines.splitlines()
        if line.split("#")[0].strip() and not line.startswith("-")
    ]


def test_every_requirement_is_pinned_exactly_with_its_hashes():
    for lock in LOCKS:
        text = (REPO_ROOT / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.strip())
        assert entries
        for entry in entries:
            assert PIN.match(entry), entry.splitlines()[0]
            assert "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]} has no hash"
    assert set(_requirements((REPO_ROOT / "requirements.in").read_text())) <= set(
        _lock("requirements.lock")
    )
    assert set(_requirements((REPO_ROOT / "requirements-dev.in").read_text())) <= set(
        _lock("requirements-dev.lock")
    )


def test_batch_runs_need_no_development_tools_or_jupyter_metapackage():
    runtime = _lock("requirements.lock")
    for tool in ("pytest", "ruff", "selenium", "jupyter", "jupyterlab", "notebook"):
        assert tool not in runtime


def test_the_locks_agree_where_they_overlap():
    runtime, dev = _lock("requirements.lock"), _lock("requirements-dev.lock")
    assert {k: runtime[k] for k in runtime.keys() & dev.keys()} == {
        k: dev[k] for k in runtime.keys() & dev.keys()
    }


def test_environment_yml_has_the_same_pins_as_the_lock():
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    pins = dict(line.lower().split("==") for line in pip_section)
    assert pins == _lock()
    assert "python=3.11" in environment["dependencies"]


def test_the_package_declares_what_the_runtime_lock_holds():
    """pyproject's dependencies (for a plain `pip install`) are the runtime lock's top level."""
    import tomllib

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    declared = {d.lower() for d in project["dependencies"]}
    runtime = set(_requirements((REPO_ROOT / "requirements.in").read_text()))
    assert declared == runtime - {"setuptools", "wheel"}
    dev = set(_requirements((REPO_ROOT / "requirements-dev.in").read_text()))
    extras = {d.lower() for group in project["optional-dependencies"].values() for d in group}
    assert extras == dev
