"""The environment is pinned, and conda users get the same pins."""

from __future__ import annotations

import yaml

from pipeline.run.provenance import REPO_ROOT


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def test_every_requirement_is_pinned_exactly():
    lines = [
        line
        for line in (REPO_ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines and all("==" in line for line in lines)
    top_level = [
        line.strip().lower()
        for line in (REPO_ROOT / "requirements.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert set(top_level) <= set(_lock())


def test_environment_yml_has_the_same_pins_as_the_lock():
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    pins = dict(line.lower().split("==") for line in pip_section)
    assert pins == _lock()
    assert "python=3.11" in environment["dependencies"]
