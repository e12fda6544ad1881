"""Opening boto3 for an S3 remote: the optional import, the client and the transfer settings."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from modelreg.errors import UsageError

# S3 client behaviour: an unreachable endpoint must fail in seconds, not minutes.
S3_CONNECT_TIMEOUT = 2.0
S3_READ_TIMEOUT = 10.0  # per socket read: a server streaming bytes never trips it, a hung one fails
S3_MAX_ATTEMPTS = 3  # total tries, so throttling (503 SlowDown) still gets two retries
# Multipart: model files are big; 16 MiB parts keep a 100 GB file under S3's 10,000 parts
# (s3transfer also raises the part size by itself when a file needs it).
S3_MULTIPART_THRESHOLD = 64 * 1024 * 1024
S3_MULTIPART_CHUNKSIZE = 16 * 1024 * 1024
S3_TRANSFER_CONCURRENCY = 8
# The least size of a part of a multipart upload but the last (S3's own floor is 5 MiB).
S3_LEAST_PART = 5 * 1024 * 1024
# missing(): HEAD each digest of a shard when few are asked, else list the whole shard.
S3_LIST_SHARD_AT = 3
S3_LOOKUP_THREADS = 8


@dataclass(frozen=True)
class Boto:
    """The parts of boto3 and botocore a remote uses, loaded once."""

    boto3: Any
    bexc: Any  # botocore.exceptions
    config_cls: Any
    transfer_config_cls: Any
    errors: tuple[type[BaseException], ...]  # everything a failed call raises


@contextmanager
def botocore_alone() -> Iterator[None]:
    """While botocore is first imported, keep it from loading pyOpenSSL where that is installed.

    botocore imports ``urllib3.contrib.pyopenssl`` only to reach urllib3's own ``SSLContext``,
    saved there before pyOpenSSL is injected into urllib3 (which modelreg never does); failing
    that import, it takes the same class from ``urllib3.util.ssl_``. Loading pyOpenSSL and
    cryptography's X.509 for nothing cost 23 ms of every S3 command. Afterwards the module can
    be imported as usual by anything else in the process."""
    import sys

    name = "urllib3.contrib.pyopenssl"
    if "botocore.httpsession" in sys.modules or name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]  # an import of it now fails
    try:
        yield
    finally:
        if sys.modules.get(name, False) is None:
            del sys.modules[name]


def load_boto3(url: str) -> Boto:
    try:
        with botocore_alone():
            import boto3
            import boto3.exceptions
            import boto3.s3.transfer
            import botocore.config
            import botocore.exceptions
    except ImportError:
        raise UsageError(
            f"the remote {url} is on S3, which needs boto3: pip install 'modelreg[s3]'",
            code="missing_dependency",
        ) from None
    return Boto(
        boto3=boto3,
        bexc=botocore.exceptions,
        config_cls=botocore.config.Config,
        transfer_config_cls=boto3.s3.transfer.TransferConfig,
        errors=(botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, boto3.exceptions.Boto3Error),
    )


def make_client(boto: Boto, endpoint_url: str | None, region: str | None) -> Any:
    """An S3 client that fails fast on an unreachable endpoint; raises what botocore raises."""
    options: dict[str, Any] = {
        "connect_timeout": S3_CONNECT_TIMEOUT,
        "read_timeout": S3_READ_TIMEOUT,
        "retries": {"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
        # Room for the transfer threads plus the missing() lookup pool.
        "max_pool_connections": S3_TRANSFER_CONCURRENCY + S3_LOOKUP_THREADS + 20,  # + push/pull --jobs
        "user_agent_extra": "modelreg",
    }
    if endpoint_url:
        # S3-compatible stores (MinIO, SeaweedFS, Ceph...) serve path-style reliably, and
        # several reject the CRC checksums botocore >= 1.36 sends by default; our own
        # SHA-256 check on every download is what guarantees integrity anyway.
        options["s3"] = {"addressing_style": "path"}
        if "request_checksum_calculation" in getattr(boto.config_cls, "OPTION_DEFAULTS", {}):
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
    session = boto.boto3.session.Session(region_name=region)
    return session.client("s3", endpoint_url=endpoint_url, config=boto.config_cls(**options))


def transfer_config(boto: Boto, threshold: int, chunksize: int, concurrency: int) -> Any:
    """Settings of boto3's managed uploads and copies."""
    options: dict[str, Any] = {
        "multipart_threshold": threshold,
        "multipart_chunksize": chunksize,
        "max_concurrency": concurrency,
    }
    if "preferred_transfer_client" in inspect.signature(boto.transfer_config_cls).parameters:
        # The classic (pure Python) transfer manager: same behaviour and errors whether
        # or not the optional awscrt package happens to be installed (boto3 >= 1.32).
        options["preferred_transfer_client"] = "classic"
    return boto.transfer_config_cls(**options)
