"""`pip install .` gives a working install: templates, assets, demo content and catalogs ship inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_templates_assets_and_translations(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("ambassador_toolkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in ("templates", "assets"):
        shipped = {f"toolkit/{p.relative_to(ROOT)}" for p in (ROOT / source).rglob("*") if p.is_file()}
        assert shipped and shipped <= names, sorted(shipped - names)[:5]
    assert "toolkit/locale/nl/LC_MESSAGES/messages.po" in names
    assert "toolkit/py.typed" in names
