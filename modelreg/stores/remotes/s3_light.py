"""Small bounded reads of S3 objects without botocore's client: what a published registry's
reader asks of the bucket on every call (the publication pointer, the few small records a call
has not cached yet).

Opening botocore's S3 client costs a serving host more than the rest of ``get-production``
together (importing botocore, loading the S3 service model); obstore (Rust's ``object_store``,
which signs its own requests) answers the same GET in a few milliseconds of start-up. It is used
only where the environment alone decides how the bucket is reached, so that it reaches it exactly
as botocore would: the keys in ``$AWS_ACCESS_KEY_ID``/``$AWS_SECRET_ACCESS_KEY`` (botocore's chain
takes these first), the region from ``$AWS_REGION``/``$AWS_DEFAULT_REGION`` and the endpoint from
``$MODELREG_ENDPOINT_URL``/``$AWS_ENDPOINT_URL`` (or, with no AWS configuration file, AWS's own
and us-east-1), no proxy, no custom CA bundle for an https endpoint. Everything else (profiles,
``~/.aws`` files, roles, SSO, proxies) goes through botocore as before: ``open_light`` then
answers None.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import Any

from modelreg.errors import IntegrityError, ModelregError, RemoteError

from .backend import check_key

CONNECT_TIMEOUT = "2s"  # as botocore's client here: an unreachable endpoint fails in seconds
READ_TIMEOUT = "10s"  # per read: a server streaming bytes never trips it, a hung one fails
MAX_RETRIES = 2  # three tries in all, as the botocore client's
RETRY_TIMEOUT = datetime.timedelta(seconds=20)

# What makes botocore reach the bucket otherwise than the environment's keys, region and endpoint
# say: with one of these set, the reader leaves the call to botocore.
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
_AWS_ENDPOINT_SETTINGS = (
    "AWS_ENDPOINT",  # obstore's own name for an endpoint, which botocore does not read
    "AWS_ENDPOINT_URL_S3",
    "AWS_USE_FIPS_ENDPOINT",
    "AWS_USE_DUALSTACK_ENDPOINT",
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT",
)


# The AWS_* settings both clients read alike (or that change nothing here): any other one, say
# obstore's AWS_TOKEN, AWS_SERVER_SIDE_ENCRYPTION or AWS_REQUEST_PAYER, or botocore's
# AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or AWS_PROFILE, leaves the call to botocore.
_UNDERSTOOD = frozenset(
    {
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CA_BUNDLE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_EC2_METADATA_DISABLED",
        "AWS_MAX_ATTEMPTS",
        "AWS_RETRY_MODE",
        "AWS_PAGER",
        "AWS_DEFAULT_OUTPUT",
    }
)


def endpoint_from_env() -> str | None:
    """The endpoint of an S3-compatible store: $MODELREG_ENDPOINT_URL, else boto3's $AWS_ENDPOINT_URL."""
    return os.environ.get("MODELREG_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL") or None


def _config_file() -> Path:
    return Path(os.environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config")


def light_settings(
    endpoint: str | None = None, region: str | None = None, *, as_botocore: bool = False
) -> dict[str, Any] | None:
    """The keys, region and endpoint when the environment alone decides them, else None.
    ``endpoint`` and ``region``, when given, are the registry's own settings: they win over the
    environment's, as they do for botocore's client. ``as_botocore``: the endpoint and region
    come from where botocore's client looks ($AWS_ENDPOINT_URL, $AWS_DEFAULT_REGION), and
    without an endpoint (AWS itself) a region must be named: botocore follows a bucket to its
    region, obstore does not."""
    env = os.environ
    key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None  # a profile, a role, SSO...: botocore's chain
    if any(env.get(name) or env.get(name.lower()) for name in _PROXIES):
        return None
    if any(name.startswith("AWS_") and name not in _UNDERSTOOD for name in env):
        return None  # obstore reads settings botocore does not (AWS_TOKEN, encryption...), or the reverse
    endpoint = endpoint or (env.get("AWS_ENDPOINT_URL") if as_botocore else endpoint_from_env()) or None
    if as_botocore:
        named = env.get("AWS_DEFAULT_REGION") or None
        if not region and env.get("AWS_REGION") and env.get("AWS_REGION") != named:
            return None  # whether botocore reads $AWS_REGION depends on its version
        region = region or named
        if endpoint is None and region is None:
            return None
    else:
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
    if endpoint is None and any(env.get(name) for name in _AWS_ENDPOINT_SETTINGS):
        return None
    if endpoint is None or region is None:
        # The AWS configuration file may name the region or an endpoint: botocore reads it.
        try:
            if _config_file().exists():
                return None
        except OSError:
            return None
    if endpoint is not None:
        if not endpoint.startswith(("http://", "https://")):
            return None  # botocore says what is wrong with it
        if endpoint.startswith("https://") and env.get("AWS_CA_BUNDLE"):
            return None
    elif env.get("AWS_CA_BUNDLE"):
        return None
    return {
        "access_key_id": key,
        "secret_access_key": secret,
        "session_token": env.get("AWS_SESSION_TOKEN") or env.get("AWS_SECURITY_TOKEN") or None,
        "region": region or "us-east-1",  # botocore signs for us-east-1 when nothing names a region
        "endpoint": endpoint,
    }


class LightS3:
    """Bounded GETs of objects under ``s3://bucket/prefix`` (``prefix`` empty or ending in ``/``)."""

    def __init__(self, obstore: Any, store: Any, url: str, where: str) -> None:
        self._obstore = obstore
        self._store = store
        self.url = url
        self._where = where

    def read(self, key: str, limit: int) -> bytes | None:
        """The object's bytes, None when there is none; more than ``limit`` bytes is refused unread."""
        from obstore.exceptions import BaseError

        check_key(key)
        try:
            got = self._obstore.get(self._store, key)
            size = got.meta["size"]
            if size > limit:
                raise _too_large(key, self.url, limit)
            data = bytearray()
            for chunk in got.stream(min_chunk_size=min(limit, 1 << 20) or 1):
                data += chunk
                if len(data) > limit:
                    raise _too_large(key, self.url, limit)
        except FileNotFoundError:  # obstore's NotFoundError: no such key (or bucket)
            return None
        except ModelregError:
            raise
        except (BaseError, OSError) as exc:
            raise self._failed(exc) from exc
        return bytes(data)

    def _failed(self, exc: BaseException) -> Exception:
        return translate_error(exc, self._where)


def _too_large(key: str, url: str, limit: int) -> IntegrityError:
    return IntegrityError(
        f"the object {key} on the remote {url} is larger than it can be ({limit} bytes at most); "
        "it was not read further",
        code="remote_corrupt",
    )


def translate_error(exc: BaseException, where: str) -> RemoteError:
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    from .s3_errors import AUTH_CODES

    status, code = status_and_code(exc)
    text = str(exc)
    # object_store's text carries the URL and the server's whole answer: name the status and the
    # S3 code when it has them, else its first words.
    detail = " ".join(str(x) for x in (status, code) if x) or (text.splitlines()[0] if text else type(exc).__name__)
    detail = detail[:200]
    if status in (401, 403) or code in AUTH_CODES or isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
        return RemoteError(
            f"the remote {where} refused the credentials ({detail}); "
            "check AWS_PROFILE / AWS_ACCESS_KEY_ID and the bucket policy",
            code="remote_auth",
        )
    if status is None and ("error sending request" in text or "connect" in detail.lower()):
        return RemoteError(
            f"cannot reach the remote {where}: {detail}; check the endpoint and the network",
            code="remote_unavailable",
        )
    return RemoteError(f"the remote {where} failed: {detail}", code="remote_error")


def status_and_code(exc: BaseException) -> tuple[int | None, str | None]:
    """The HTTP status and the S3 error code in an obstore error's text, where it has them."""
    import re

    text = str(exc)
    status = re.search(r"status code: (\d{3})\b", text)
    code = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", text)
    return (int(status[1]) if status else None), (code[1] if code else None)


def open_light(bucket: str, prefix: str, url: str) -> LightS3 | None:
    """A light reader of ``s3://bucket/prefix``, or None where botocore must do it (obstore not
    installed, or settings that only botocore reads)."""
    opened = open_store(bucket, prefix, MAX_RETRIES)
    if opened is None:
        return None
    obstore, store, endpoint = opened
    return LightS3(obstore, store, url, f"{url} (endpoint {endpoint})" if endpoint else url)


def open_store(
    bucket: str,
    prefix: str,
    retries: int,
    endpoint: str | None = None,
    region: str | None = None,
    *,
    as_botocore: bool = False,
) -> tuple[Any, Any, str | None] | None:
    """obstore, its store for ``s3://bucket/prefix`` and the endpoint (None: AWS's own), or None
    where botocore must reach the bucket (see ``light_settings``)."""
    settings = light_settings(endpoint, region, as_botocore=as_botocore)
    if settings is None:
        return None
    try:
        import obstore
        from obstore.exceptions import BaseError
        from obstore.store import S3Store
    except ImportError:
        return None
    endpoint = settings["endpoint"]
    config: dict[str, Any] = {
        "access_key_id": settings["access_key_id"],
        "secret_access_key": settings["secret_access_key"],
        "region": settings["region"],
        "skip_signature": False,
    }
    if settings["session_token"]:
        config["session_token"] = settings["session_token"]
    if endpoint:
        config["endpoint"] = endpoint
        config["virtual_hosted_style_request"] = False  # path style, as for botocore's client here
    client = {
        "allow_http": bool(endpoint and endpoint.startswith("http://")),
        "connect_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
        "user_agent": "modelreg",
    }
    try:
        store = S3Store(
            bucket,
            prefix=prefix.rstrip("/") or None,
            config=config,  # type: ignore[arg-type]
            client_options=client,  # type: ignore[arg-type]
            retry_config={"max_retries": retries, "retry_timeout": RETRY_TIMEOUT},
        )
    except (BaseError, ValueError, TypeError):  # a setting obstore refuses: botocore says what is wrong
        return None
    return obstore, store, endpoint
