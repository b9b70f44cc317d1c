"""gzip JSON Lines written so that the final object is either whole or absent.

The object is written under a temporary name beside the final one (``.<name>.tmp-<random>``,
a name Spark, Hive and most loaders skip) and renamed into place once complete. On a local or
mounted file system the rename is atomic. On object stores (S3, GCS) a rename is a server-side copy
then a delete: the copy creates the final object in one step, so readers still see either the
previous object or the new whole one, never a part; a failure between copy and delete can only
leave the temporary object behind, which is removed when possible. Writing straight to the final
key would not be safe: a multipart upload closed by an exception is still completed.

Same rows in, same bytes out: the gzip header carries no file name and a zero modification time,
and the compression level is fixed::

    size = write_atomically(ObjectStoragePath("s3://bucket/mailgun/2026-01-01.jsonl.gz"), chunks)
"""

from __future__ import annotations

import contextlib
import gzip
import uuid
from collections.abc import Iterable
from typing import Any

COMPRESS_LEVEL = 6


class _CountingWriter:
    """Counts the compressed bytes on their way to the object."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += len(data)
        self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        self.raw.flush()


def temporary_sibling(target: Any) -> Any:
    """A fresh temporary path beside ``target`` (same directory or prefix)."""
    return target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:12]}"


def write_atomically(target: Any, chunks: Iterable[bytes], *, compresslevel: int = COMPRESS_LEVEL) -> int:
    """Write ``chunks`` gzip-compressed to ``target`` (an ``ObjectStoragePath`` or ``pathlib.Path``).

    Returns the object's size in bytes. Nothing is ever left at ``target`` but a whole object;
    the temporary object is removed when the write fails (the error is raised again).
    """
    with contextlib.suppress(NotImplementedError, OSError):
        target.parent.mkdir(parents=True, exist_ok=True)  # object stores have no directories
    temp = temporary_sibling(target)
    try:
        with temp.open("wb") as raw:
            counter = _CountingWriter(raw)
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=counter, mtime=0, compresslevel=compresslevel
            ) as out:
                for chunk in chunks:
                    out.write(chunk)
        temp.rename(target)
    except BaseException:
        with contextlib.suppress(Exception):
            if temp.exists():
                temp.unlink()
        raise
    return counter.count
