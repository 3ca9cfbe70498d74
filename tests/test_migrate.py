"""Moving a portal between stores, and checking a deployment."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from tests.s3server import S3Server
from toolkit.check import run_checks
from toolkit.migrate import NOT_COPIED, migrate
from toolkit.records import Records
from toolkit.settings import Settings
from toolkit.store import Store
from toolkit.store.local import LocalStore
from toolkit.store.s3 import S3Store

ROOT = Path(__file__).resolve().parents[1]


def _fill(store: Store) -> dict[str, bytes]:
    records = Records(store)
    for n in range(25):
        records.create("posts", f"p{n}", {"title": f"Post {n}", "text": "ü" * n})
    store.put("blobs/assets/a1/original", io.BytesIO(bytes(range(256)) * 40_000))  # ~10 MB, streamed
    store.put("counters/2026-11-24/web-1.json", b'{"counts": {}}')
    assert any(info.key.startswith(NOT_COPIED) for info in store.list(""))
    return _content(store)


def _content(store: Store) -> dict[str, bytes]:
    """What a migration copies: everything but the journal and checkpoints, which name the source's
    object versions (the target's first start makes its own)."""
    return {
        info.key: store.read(info.key)[0] for info in store.list("") if not info.key.startswith(NOT_COPIED)
    }


def test_round_trip_local_to_s3_to_local_is_identical(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    local = LocalStore(tmp_path / "a")
    original = _fill(local)
    s3 = S3Store(bucket, "portal", endpoint_url=s3_server.url)
    there = migrate(local, s3)
    assert there.copied == len(original) and there.skipped == 0
    back = LocalStore(tmp_path / "b")
    migrate(s3, back)
    assert _content(back) == original
    again = migrate(local, s3)
    assert again.copied == 0 and again.skipped == len(original)
    # The copied records load as a portal would load them.
    assert Records(s3).load() == 25


def test_interrupted_migration_completes_when_run_again(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    local = LocalStore(tmp_path / "a")
    original = _fill(local)
    target = S3Store(bucket, "p", endpoint_url=s3_server.url)
    real_put = target.put
    calls = {"n": 0}

    def flaky_put(key: str, body: object, **kwargs: object) -> str:
        calls["n"] += 1
        if calls["n"] == 10:
            raise ConnectionError("network went away")
        return real_put(key, body, **kwargs)  # type: ignore[arg-type]

    target.put = flaky_put  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        migrate(local, target)
    target.put = real_put  # type: ignore[method-assign]
    resumed = migrate(local, target)
    assert resumed.skipped == 9 and resumed.copied == len(original) - 9
    assert _content(target) == original


def test_migrate_command_prints_progress_and_verifies(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    _fill(LocalStore(tmp_path / "data"))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "toolkit",
            "migrate",
            "--from",
            f"file://{tmp_path}/data",
            "--to",
            f"s3://{bucket}/x",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={
            "TOOLKIT_S3_ENDPOINT_URL": s3_server.url,
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 0, result.stderr
    assert "27/27 objects" in result.stderr and "all verified" in result.stdout


def test_check_passes_on_a_good_deployment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {}, store=str(tmp_path / "d"), secret_key="s" * 40, base_url="https://toolkit.example.com"
    )
    findings = run_checks(settings)
    assert all(f.ok for f in findings), [f.text for f in findings if not f.ok]


def test_check_names_what_is_wrong_on_a_broken_deployment() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toolkit", "check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={
            "TOOLKIT_STORE": "s3://missing-bucket/x",
            "TOOLKIT_S3_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ACCESS_KEY_ID": "x",
            "AWS_SECRET_ACCESS_KEY": "x",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PATH": "/usr/bin:/bin",
        },
    )
    assert result.returncode == 1
    assert "The store cannot be used" in result.stdout and "127.0.0.1:9" in result.stdout
    assert "TOOLKIT_SECRET_KEY is not set" in result.stdout
