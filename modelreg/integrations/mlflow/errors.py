"""modelreg's errors as MLflow's: the error code each of MLflow's own stores would give."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as codes

from modelreg.errors import (
    ConflictError,
    IntegrityError,
    LockTimeoutError,
    ModelregError,
    NotFoundError,
    PolicyError,
    RemoteError,
    StorageError,
    UsageError,
)


def _code(exc: ModelregError) -> int:
    # Order matters: the specific kinds of ConflictError first.
    if isinstance(exc, PolicyError):
        return int(codes.PERMISSION_DENIED)  # the registry's rules refuse it (403 over REST)
    if isinstance(exc, (LockTimeoutError, RemoteError)):
        return int(codes.TEMPORARILY_UNAVAILABLE)
    if isinstance(exc, StorageError):
        return int(codes.IO_ERROR)
    if isinstance(exc, ConflictError):
        return int(codes.RESOURCE_CONFLICT)
    if isinstance(exc, NotFoundError):
        return int(codes.RESOURCE_DOES_NOT_EXIST)
    if isinstance(exc, UsageError):
        return int(codes.INVALID_PARAMETER_VALUE)
    if isinstance(exc, IntegrityError):
        return int(codes.DATA_LOSS)
    return int(codes.INTERNAL_ERROR)


def as_mlflow(exc: ModelregError) -> MlflowException:
    return MlflowException(exc.message, error_code=_code(exc))


@contextmanager
def translated() -> Iterator[None]:
    """Run a registry call; a modelreg error leaves as the MlflowException MLflow's callers expect."""
    try:
        yield
    except ModelregError as exc:
        raise as_mlflow(exc) from exc


def not_found(message: str) -> NoReturn:
    raise MlflowException(message, error_code=codes.RESOURCE_DOES_NOT_EXIST)


def invalid(message: str) -> NoReturn:
    raise MlflowException(message, error_code=codes.INVALID_PARAMETER_VALUE)


def exists(message: str) -> NoReturn:
    raise MlflowException(message, error_code=codes.RESOURCE_ALREADY_EXISTS)
