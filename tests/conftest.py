"""Fixtures that start real servers: an S3 server (moto's server mode) on loopback, fresh buckets."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.s3server import S3Server
from toolkit.portal import Portal
from toolkit.settings import Settings
from toolkit.store import Store
from toolkit.store.local import LocalStore
from toolkit.store.s3 import S3Store

# boto3 needs credentials to sign requests; moto accepts any. Never the developer's real ones.
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_CONFIG_FILE="/dev/null",
    AWS_SHARED_CREDENTIALS_FILE="/dev/null",
)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = "test-" + secrets.token_hex(6)
    boto3.client("s3", endpoint_url=s3_server.url).create_bucket(Bucket=name)
    return name


@pytest.fixture(params=["local", "s3"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each backend, as the URL TOOLKIT_STORE would hold."""
    if request.param == "local":
        return str(tmp_path / "data")
    bucket = request.getfixturevalue("bucket")
    return f"s3://{bucket}/portal"


def started_portal(store: Store, store_url: str, instance: str = "test-a") -> Portal:
    """An instance on that store, started as the app's lifespan would start it."""
    portal = Portal(Settings.from_env({}, store=store_url, instance_id=instance), store=store)
    portal.start()
    return portal


@pytest.fixture
def portal(store: Store, store_url: str) -> Iterator[Portal]:
    """A started instance on a fresh store, for each backend."""
    instance = started_portal(store, store_url)
    yield instance
    instance.close()


@pytest.fixture
def store(store_url: str, request: pytest.FixtureRequest) -> Store:
    if store_url.startswith("s3://"):
        server: S3Server = request.getfixturevalue("s3_server")
        bucket, _, prefix = store_url[len("s3://") :].partition("/")
        return S3Store(bucket, prefix, endpoint_url=server.url)
    return LocalStore(store_url)
