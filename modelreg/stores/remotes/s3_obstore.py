"""The plain object calls of an S3 remote through obstore (Rust's ``object_store``), without botocore.

A push or a pull is listings, small reads, ranged reads of packs and writes of whole objects.
Through botocore each of them costs about a millisecond of Python (building, signing and parsing
the request), and opening its client costs 0.16 s (importing botocore, loading the S3 model): a
second push that sends 50 MB spent a quarter of its time there. obstore signs and sends in Rust
with the GIL released, and opens in milliseconds. It is used where the environment alone says how
the bucket is reached (``s3_light.light_settings``: the keys in the environment, the registry's
endpoint and region); conditional writes, HEADs, whole-blob transfers and anything else stay with
botocore, whose client the remote then opens on first use.

Every answer is bounded as botocore's are: a read never takes more than its limit, a ranged read
never holds more than twice its range (a byte more or less is refused). A ranged read
hands out obstore's own buffer: a pull then copies none of its bytes in Python, which took a 512
MiB pull from 1.20 to 1.0 s (page faults of a fresh buffer per read, and the copy into it).
Failures become the same modelreg errors; obstore tries a failed request twice more itself,
then ``backend.Retrying`` tries server errors and throttling again with its pauses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from modelreg.errors import IntegrityError, ModelregError

from .backend import check_key
from .s3_errors import no_bucket
from .s3_light import MAX_RETRIES, LightS3, open_store, status_and_code, translate_error

# The largest object sent in one PUT, held whole (--jobs of them at once). Larger ones go up in
# parts through botocore: obstore's multipart upload holds every part it is given until it is
# sent (no back-pressure), 30 MB a stream where botocore's holds one part.
SINGLE_PUT = 8 << 20
_OCTETS = {"Content-Type": "application/octet-stream"}

__all__ = ["SINGLE_PUT", "LaneDeclined", "ObstoreLane", "lane_transient", "open_lane"]


class LaneDeclined(Exception):
    """What botocore must do instead: a listing with a key object_store cannot parse (``a//b``,
    ``./``), or (``permanent``) a bucket in another region than the one signed for, which
    botocore follows and object_store does not."""

    def __init__(self, why: str, *, permanent: bool) -> None:
        super().__init__(why)
        self.permanent = permanent


class ObstoreLane(LightS3):
    """Listings, reads, ranged reads and writes of objects under ``s3://bucket/prefix``."""

    def list(self, prefix: str) -> dict[str, int]:
        """Every object whose key starts with ``prefix``: key -> size. An answer, even an empty
        one, says the bucket exists; NotFoundError (bucket_missing) when it does not."""
        # object_store lists by whole path segments: ask for the folder, keep what starts with prefix.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        found: dict[str, int] = {}
        try:
            for batch in self._obstore.list(self._store, prefix=folder or None, chunk_size=1000):
                for meta in batch:
                    key = str(meta["path"])
                    if key.startswith(prefix):
                        found[key] = int(meta["size"])
        except Exception as exc:
            if "invalid path" in str(exc) or "invalid list response" in str(exc):
                raise LaneDeclined(str(exc)[:200], permanent=False) from exc
            raise self._failed(exc) from exc
        return found

    def require_root(self) -> None:
        """NotFoundError (bucket_missing) unless the bucket exists: a listing of a name no key has."""
        try:
            self._obstore.list_with_delimiter(self._store, prefix="no-such-folder")
        except Exception as exc:
            raise self._failed(exc) from exc

    def read_range_view(self, key: str, start: int, end: int) -> memoryview:
        """Bytes ``start`` to ``end`` in one buffer of obstore's, no copy made here: that many, or
        fewer when the server sent fewer (the caller refuses them); IntegrityError when it sent
        more. FileNotFoundError when there is no such object."""
        check_key(key)
        size = end - start
        if size <= 0:
            return memoryview(b"")
        try:
            answer = self._obstore.get(self._store, key, options={"range": (start, end)})
            # obstore gathers the body into pieces of at least ``size`` bytes: the whole range
            # comes as one. A longer body shows as a second piece, or a first one too long; so
            # what is held is bounded by twice the range, and the rest is never read.
            pieces = iter(answer.stream(min_chunk_size=size))
            first = next(pieces, None)
            if first is None:
                return memoryview(b"")
            if len(first) > size or (len(first) == size and next(pieces, None) is not None):
                raise IntegrityError(
                    f"the remote {self.url} sent more than the {size} bytes asked of {key}", code="remote_corrupt"
                )
            return memoryview(first)
        except (FileNotFoundError, ModelregError):
            raise
        except Exception as exc:
            if _unsatisfiable(exc):  # a range past the end is a short answer
                return memoryview(b"")
            raise self._failed(exc) from exc

    def write(self, key: str, data: bytes | memoryview) -> None:
        check_key(key)
        try:
            self._obstore.put(self._store, key, data, use_multipart=False, attributes=_OCTETS)
        except Exception as exc:
            raise self._failed(exc) from exc

    def write_parts(self, key: str, size: int, parts: Callable[[], Iterable[bytes | memoryview]]) -> None:
        """One PUT of the ``size`` bytes ``parts()`` yields (at most ``SINGLE_PUT``): the object
        appears whole or not at all, and nothing is sent unless the parts add up."""
        if size > SINGLE_PUT:
            raise ValueError(f"{size} bytes is more than one PUT of this lane takes")
        self.write(key, b"".join(_counted(parts, key, size)))

    def _failed(self, exc: BaseException) -> Exception:
        if isinstance(exc, ModelregError):
            return exc
        status, code = status_and_code(exc)
        # S3's PermanentRedirect has no Location: object_store then says "redirect without LOCATION".
        moved = "redirect without LOCATION" in str(exc) or "BareRedirect" in str(exc)
        if moved or status in (301, 307) or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
            return LaneDeclined(f"the bucket answers from elsewhere ({status} {code})", permanent=True)
        if code == "NoSuchBucket":
            return no_bucket(self._where)
        return translate_error(exc, self._where)


def _counted(parts: Callable[[], Iterable[bytes | memoryview]], key: str, size: int) -> Iterator[bytes]:
    """The parts as bytes of their own (a part may be a view of a buffer its producer reuses), and
    an error before the end if they do not add up."""
    total = 0
    for part in parts():
        total += len(part)
        if total > size:
            break
        yield bytes(part)
    if total != size:
        raise IntegrityError(f"{total} bytes or more were given for {key}, not {size}")


def _unsatisfiable(exc: BaseException) -> bool:
    status, code = status_and_code(exc)
    return status == 416 or code == "InvalidRange"


def lane_transient(exc: BaseException) -> bool | None:
    """For an error of obstore's: whether trying again may help (a server error or throttling,
    which obstore tried twice already: backend.Retrying then waits longer between tries, as it
    does for botocore's). None for any other error."""
    if not type(exc).__module__.startswith("obstore"):
        return None
    status, _ = status_and_code(exc)
    return status is not None and (status >= 500 or status == 429)


def open_lane(bucket: str, prefix: str, url: str, endpoint: str | None, region: str | None) -> ObstoreLane | None:
    """The lane for an S3 remote, or None where botocore must do it all (also when
    ``$MODELREG_S3_CLIENT`` is ``botocore``: a way around a store that obstore does not suit)."""
    if os.environ.get("MODELREG_S3_CLIENT", "").strip().lower() == "botocore":
        return None
    opened = open_store(bucket, prefix, MAX_RETRIES, endpoint, region, as_botocore=True)
    if opened is None:
        return None
    obstore, store, endpoint = opened
    return ObstoreLane(obstore, store, url, f"{url} (endpoint {endpoint})" if endpoint else url)
