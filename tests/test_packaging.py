"""The built wheel carries the generated schemas and loads them once installed (not editable)."""

from __future__ import annotations

import json
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_PROBE = """
import json, sys
import mockvertex
from mockvertex.contract import resources
schema = resources.schema("v1/GenerateContentRequest.schema.json")
status = resources.schema("Status.schema.json")
manifest = resources.schema("MANIFEST.json")
print(json.dumps({
    "file": mockvertex.__file__,
    "root": schema["$ref"],
    "status": status["$ref"],
    "files": sorted(manifest["files"]),
}))
"""


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert proc.returncode == 0, f"{args}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_installed_wheel_ships_and_loads_the_schemas(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, cwd=REPO)
    (wheel,) = dist.glob("mockvertex-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    ).stdout.strip()
    # the test venv's third-party packages (aiohttp, ...) go *after* the new venv's own
    # site-packages: a plain path entry, so the editable install's .pth there is not run
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(target) / "zz_test_deps.pth").write_text("\n".join(deps) + "\n", encoding="utf-8")

    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    probe = json.loads(_run(python, "-I", "-c", _PROBE, cwd=outside).stdout)
    assert Path(probe["file"]).resolve().is_relative_to(env_dir.resolve())
    assert not Path(probe["file"]).resolve().is_relative_to(REPO)
    assert probe["root"] == "#/$defs/GenerateContentRequest"
    assert probe["status"] == "#/$defs/ErrorEnvelope"
    shipped = json.loads((REPO / "mockvertex" / "schemas" / "MANIFEST.json").read_text("utf-8"))
    assert probe["files"] == sorted(shipped["files"])
