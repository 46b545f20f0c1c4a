"""What `pip install .` gives a user: a wheel with the whole package, its viewer assets and
the MIT license, built without deprecation warnings; an sdist without the tests (they need
the whole repository); and a `tinygrad-rnn` command that works outside the source tree.

The build is offline: pip with --no-build-isolation uses the installed setuptools."""

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "tinygrad_rnn"]


def clean_env():
    """The environment without this checkout on sys.path (what a user's shell has)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(wheel, sdist, build log), built from a copy of the sources as a clean clone has them."""
    tmp = tmp_path_factory.mktemp("build")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                          if (ROOT / name).is_dir() else {}))
    (src / "tests").mkdir()
    (src / "tests" / "test_x.py").write_text("import examples\n")     # what MANIFEST.in must prune
    log = ""
    wheel = ["-m", "pip", "wheel", "--no-build-isolation", "--no-deps", "--no-index", "-w", str(tmp), "."]
    sdist = ["-c", "import setuptools.build_meta as b; b.build_sdist(r'%s')" % tmp]
    for args in (wheel, sdist):
        r = subprocess.run([sys.executable, *args], cwd=src, env=clean_env(),
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stdout + r.stderr
        log += r.stdout + r.stderr
    [wheel], [sdist] = tmp.glob("*.whl"), tmp.glob("*.tar.gz")
    return wheel, sdist, log


def test_the_build_warns_of_nothing_deprecated(built):
    _, _, log = built
    assert "deprecat" not in log.lower(), log          # e.g. a TOML-table license (setuptools >= 77)


def test_the_wheel_holds_the_package_its_assets_and_the_license(built):
    wheel, _, _ = built
    names = zipfile.ZipFile(wheel).namelist()
    package = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tinygrad_rnn").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts)
    assert set(package) <= set(names), set(package) - set(names)
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in names)
    [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
    metadata = zipfile.ZipFile(wheel).read(meta).decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    [license_] = [n for n in names if n.endswith("licenses/LICENSE")]
    assert zipfile.ZipFile(wheel).read(license_).decode().startswith("MIT License")


def test_the_sdist_leaves_the_tests_out(built):
    _, sdist, _ = built
    names = tarfile.open(sdist).getnames()
    assert not any("/tests/" in n for n in names), [n for n in names if "/tests/" in n]
    assert any(n.endswith("/LICENSE") for n in names)
    assert any(n.endswith("/tinygrad_rnn/cli.py") for n in names)


def test_the_installed_command_renders_outside_the_source_tree(built, tmp_path):
    wheel, _, _ = built
    env_dir = tmp_path / "venv"            # numpy and graphviz come from this interpreter's site
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    bindir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
               "--no-index"]
    r = subprocess.run([*install, str(wheel)], env=clean_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = subprocess.run([str(python), "-c", "import tinygrad_rnn; print(tinygrad_rnn.__file__)"], cwd=work,
                           env=clean_env(), capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout + where.stderr  # not here
    run = subprocess.run([str(bindir / "tinygrad-rnn"), "render"], cwd=work,
                         env=clean_env(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "‖∂E/∂h_t‖" in run.stdout and "wrote graph.svg" in run.stdout
    assert (work / "graph.svg").read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg"))
