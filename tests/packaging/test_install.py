"""The distribution as users install it: the SDK alone, and the lock files `./run` installs from."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _pins(lock: str) -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements" / lock).read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#", "-")):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _requirements(*extras: str) -> list[Requirement]:
    project = PYPROJECT["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        reqs += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return reqs


@pytest.mark.parametrize(
    ("lock", "extras"), [("demo.txt", ("server", "embeddings")), ("test.txt", ("server", "embeddings", "bench", "dev"))]
)
def test_each_lock_pins_every_requirement_within_its_range(lock: str, extras: tuple[str, ...]) -> None:
    # a dependency added to pyproject.toml without `pip-compile` (docs/how-to/install.md) fails here
    pins = _pins(lock)
    for req in _requirements(*extras):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not in requirements/{lock}: re-run pip-compile"
        assert req.specifier.contains(pins[name], prereleases=True), f"requirements/{lock}: {name}=={pins[name]} {req}"


def test_the_demo_lock_is_the_test_lock_s_versions() -> None:
    demo, test = _pins("demo.txt"), _pins("test.txt")
    assert {n: v for n, v in demo.items() if test.get(n) != v} == {}


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600, cwd=cwd, check=False)


@pytest.mark.slow
def test_the_sdk_alone_installs_httpx_and_nothing_else(tmp_path: Path) -> None:
    built = _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp_path, REPO)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("prelabel-*.whl")
    venv = tmp_path / "sdk"
    assert _run(sys.executable, "-m", "venv", venv).returncode == 0
    py = venv / "bin" / "python"
    installed = _run(py, "-m", "pip", "install", "-q", wheel)
    assert installed.returncode == 0, installed.stderr

    names = {canonicalize_name(d["name"]) for d in json.loads(_run(py, "-m", "pip", "list", "--format", "json").stdout)}
    closure = _closure("httpx", next((venv / "lib").glob("python*/site-packages")))
    assert names - {"pip", "setuptools"} == {"prelabel", *closure}  # httpx's own tree, nothing of the server
    script = "import prelabel, sys; prelabel.Client('http://127.0.0.1:9', 'pl_x'); print(sorted(sys.modules))"
    used = _run(py, "-c", script)
    assert used.returncode == 0, used.stderr
    assert "sqlalchemy" not in used.stdout and "numpy" not in used.stdout

    cli = _run(venv / "bin" / "prelabel", "serve")
    assert cli.returncode == 1 and "pip install 'prelabel[server]'" in cli.stderr


def _closure(root: str, site: Path) -> set[str]:
    """The distributions `root` needs, read from the metadata installed in `site`."""
    dists = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(site)])}
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in dists[name].requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen
