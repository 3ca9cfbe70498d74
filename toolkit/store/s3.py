"""Any S3-compatible bucket through one boto3 client per process."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from toolkit.store.base import (
    CHUNK,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreUnavailable,
    VersionMismatch,
    check_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# Bounded memory for large uploads: parts of 8 MB, two in flight, whatever the file's size.
_TRANSFER = TransferConfig(
    multipart_threshold=8 * CHUNK, multipart_chunksize=8 * CHUNK, max_concurrency=2, use_threads=True
)
_MISSING = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _bare(etag: str) -> str:
    return etag.strip('"')


class S3Store(Store):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str = "",
        region: str = "",
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._endpoint_url = endpoint_url
        self.client: S3Client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            # Fail fast when the store is down, so requests answer 503 quickly instead of hanging.
            config=Config(
                connect_timeout=3,
                read_timeout=20,
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=64,
            ),
        )

    @property
    def endpoint(self) -> str:
        where = self._endpoint_url or "AWS S3"
        return f"s3://{self.bucket}/{self.prefix} at {where}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _fail(self, exc: Exception, key: str) -> Exception:
        if isinstance(exc, ClientError):
            error = cast(dict[str, Any], exc.response.get("Error", {}))
            code = str(error.get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in _MISSING or status == 404:
                return ObjectMissing(key)
            if code in _PRECONDITION or status == 412:
                return VersionMismatch(key)
            if status >= 500 or status == 0:
                return StoreUnavailable(self.endpoint, f"{code or status}: {error.get('Message', '')}")
            # 403 and friends are configuration problems, not outages, but still make the store
            # unusable for this request; say exactly what S3 said.
            return StoreUnavailable(self.endpoint, f"{code}: {error.get('Message', '')}")
        return StoreUnavailable(self.endpoint, str(exc))

    def open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, key) from exc
        info = ObjectInfo(key, _bare(response["ETag"]), response["ContentLength"])
        return cast(BinaryIO, response["Body"]), info

    def put(
        self,
        key: str,
        body: bytes | BinaryIO,
        *,
        content_type: str = "application/octet-stream",
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> str:
        full = self._key(key)
        try:
            if isinstance(body, bytes | bytearray):
                extra: dict[str, Any] = {}
                if if_match is not None:
                    extra["IfMatch"] = _quoted(if_match)
                if if_none_match:
                    extra["IfNoneMatch"] = "*"
                response = self.client.put_object(
                    Bucket=self.bucket, Key=full, Body=bytes(body), ContentType=content_type, **extra
                )
                return _bare(response["ETag"])
            if if_match is not None or if_none_match:
                raise ValueError("conditional writes are for records, which are always bytes")
            # A multipart upload that does not complete is never visible as an object.
            self.client.upload_fileobj(
                body, self.bucket, full, ExtraArgs={"ContentType": content_type}, Config=_TRANSFER
            )
            head = self.client.head_object(Bucket=self.bucket, Key=full)
            return _bare(head["ETag"])
        except (ClientError, BotoCoreError) as exc:
            failure = self._fail(exc, key)
            # S3 answers a conditional put on a missing key with 404: to us that is a mismatch.
            if isinstance(failure, ObjectMissing) and if_match is not None:
                raise VersionMismatch(key) from exc
            raise failure from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError) as exc:
            failure = self._fail(exc, key)
            if isinstance(failure, ObjectMissing):
                return None
            raise failure from exc
        return ObjectInfo(key, _bare(response["ETag"]), response["ContentLength"])

    def list(self, prefix: str, *, start_after: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        skip = len(self.prefix)
        extra: dict[str, Any] = {"StartAfter": self.prefix + start_after} if start_after else {}
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **extra):
                for item in page.get("Contents", []):
                    yield ObjectInfo(item["Key"][skip:], _bare(item["ETag"]), item["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, prefix) from exc

    def folders(self, prefix: str) -> builtins.list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        base = self.prefix + prefix
        names: builtins.list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base, Delimiter="/"):
                names += [p["Prefix"][len(base) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, prefix) from exc
        return sorted(names)

    def delete_many(self, keys: builtins.list[str]) -> None:
        # One request per thousand keys (S3's limit) instead of one per key.
        for start in range(0, len(keys), 1000):
            batch: builtins.list[ObjectIdentifierTypeDef] = [
                {"Key": self._key(key)} for key in keys[start : start + 1000]
            ]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except (ClientError, BotoCoreError) as exc:
                raise self._fail(exc, keys[start]) from exc
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                raise StoreUnavailable(self.endpoint, f"{first.get('Code')}: {first.get('Message')}")

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        extra: dict[str, Any] = {"IfMatch": _quoted(if_match)} if if_match is not None else {}
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key), **extra)
        except (ClientError, BotoCoreError) as exc:
            failure = self._fail(exc, key)
            if isinstance(failure, ObjectMissing):
                if if_match is not None:
                    raise VersionMismatch(key) from exc
                return
            raise failure from exc
