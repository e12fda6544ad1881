"""What an S3 failure means to a user: boto3 and botocore errors as modelreg errors."""

from __future__ import annotations

from typing import Any

from modelreg.errors import ModelregError, NotFoundError, RemoteError, UsageError

AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "ExpiredToken",
        "Forbidden",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "SignatureDoesNotMatch",
        "TokenRefreshRequired",
        "Unauthorized",
        "401",
        "403",
    }
)
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_404(bexc: Any, exc: BaseException) -> bool:
    """Whether ``exc`` says "no such key" (or bucket); ``bexc`` is ``botocore.exceptions``."""
    if not isinstance(exc, bexc.ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in _NOT_FOUND_CODES or status == 404


def is_412(bexc: Any, exc: BaseException) -> bool:
    """Whether ``exc`` says a precondition (``If-Match``) failed: the object changed meanwhile."""
    if not isinstance(exc, bexc.ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "412") or status == 412


def no_bucket(where: str) -> NotFoundError:
    return NotFoundError(
        f"the bucket of the remote {where} does not exist: create it or fix the url",
        code="bucket_missing",
    )


def translate(bexc: Any, exc: BaseException, *, where: str, url: str, digest: str | None = None) -> ModelregError:
    """Turn a boto3/botocore failure into the modelreg error a user can act on."""
    # s3transfer wraps client errors (S3UploadFailedError, RetriesExceededError): unwrap.
    inner: BaseException | None = exc
    while inner is not None and not isinstance(inner, (bexc.ClientError, bexc.BotoCoreError)):
        inner = getattr(inner, "last_exception", None) or inner.__cause__ or inner.__context__
    if inner is not None:
        exc = inner
    if isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return RemoteError(
            f"no usable AWS credentials for the remote {where}: set AWS_PROFILE "
            "or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (the standard AWS chain)",
            code="remote_auth",
        )
    if isinstance(exc, (bexc.CredentialRetrievalError, bexc.TokenRetrievalError)):
        return RemoteError(
            f"could not obtain AWS credentials for the remote {where}: {exc}",
            code="remote_auth",
        )
    if isinstance(exc, (bexc.ConnectionError, bexc.HTTPClientError)):
        return RemoteError(
            f"cannot reach the remote {where}: {exc}; check the endpoint and the network",
            code="remote_unavailable",
        )
    if isinstance(exc, bexc.ParamValidationError):
        return UsageError(f"invalid request for the remote {url}: {exc}")
    if isinstance(exc, bexc.ClientError):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = str(error.get("Message") or code or status)
        if code in AUTH_CODES or status in (401, 403):
            return RemoteError(
                f"the remote {where} refused the credentials ({code or status}: "
                f"{detail}); check AWS_PROFILE / AWS_ACCESS_KEY_ID and the bucket policy",
                code="remote_auth",
            )
        if code == "NoSuchBucket":
            return no_bucket(where)
        if digest is not None and (code in _NOT_FOUND_CODES or status == 404):
            return NotFoundError(f"blob {digest} is not on the remote {url}", code="blob_missing")
        if digest is not None and (code == "PreconditionFailed" or status == 412):
            return RemoteError(
                f"blob {digest} changed on the remote {where} while it was read (a push replacing it?): "
                "run the command again",
                code="remote_changed",
            )
        return RemoteError(
            f"the remote {where} failed: {code or status}: {detail}",
            code="remote_error",
        )
    return RemoteError(f"the remote {where} failed: {exc}", code="remote_error")
