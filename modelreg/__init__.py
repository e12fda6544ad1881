"""modelreg: a model registry in a directory.

``Registry`` is the library: every command of the command line is one of its calls, returning a
result whose ``to_json()`` is that command's ``--json`` document (docs/reference/python.md lists
them). The library never prints; the CLI (``modelreg.cli``) renders what it returns. Names are
loaded lazily so that importing the CLI does not pay for the whole library.
"""

from __future__ import annotations

__version__ = "0.1.0"

# Every public name, and the module under modelreg that defines it (loaded on first use).
_LAZY = {
    # opening a registry, references, versions
    "Registry": "registry",
    "find_root": "registry",
    "Ref": "records.refs",
    "parse_ref": "records.refs",
    "Version": "records.manifest",
    "FileEntry": "records.manifest",
    "completion_script": "cli.completion_script",
    # results: what each call did (``to_json()`` is the command's --json)
    "Reported": "base.effects",
    "Accumulated": "base.effects",
    "Initialized": "registry",
    "RegisterResult": "ops.lifecycle.register",
    "PromoteResult": "ops.lifecycle.promote",
    "AliasResult": "ops.lifecycle.alias",
    "AnnotateResult": "ops.lifecycle.annotate",
    "ModelList": "ops.views",
    "VersionList": "ops.views",
    "ModelSummary": "ops.queries.listing",
    "ModelView": "ops.views",
    "VersionView": "ops.views",
    "LogResult": "ops.views",
    "DiffResult": "ops.views",
    "RequestList": "ops.views",
    "AliasList": "ops.views",
    "Served": "ops.serving.files",
    "VerifyReport": "ops.findings",
    "Finding": "ops.findings",
    "Evaluation": "ops.governance.policy",
    "RuleResult": "ops.governance.rules",
    "Filed": "ops.governance.approvals",
    "Decided": "ops.governance.approvals",
    "Request": "records.requests",
    "RemoveResult": "ops.governance.remove",
    "TrustStatus": "ops.events.trust",
    "GcReport": "ops.storage.gc",
    "TransferReport": "ops.storage.transfer",
    "UpgradeReport": "ops.storage.upgrade",
    "Stats": "ops.storage.stats",
    "Usage": "ops.storage.stats",
    "ReportResult": "ops.report",
    "ImportReport": "ops.importers.report",
    "CompletionScript": "cli.completion_script",
    "SignResult": "ops.proof.sign",
    "SyncResult": "ops.teams.sync",
    "CheckReport": "ops.teams.check",
    "UnusedClaim": "ops.teams.unused",
    "DeployResult": "ops.deployments.deploy",
    "UndeployResult": "ops.deployments.deploy",
    "DeployedResult": "ops.deployments.deployed",
    "WhichResult": "ops.deployments.which",
    "DeployCheckResult": "ops.deployments.check",
    "ObserveResult": "ops.deployments.observe",
    # errors: each carries its exit code and a stable error code
    "ModelregError": "errors",
    "UsageError": "errors",
    "NotFoundError": "errors",
    "ConflictError": "errors",
    "PolicyError": "errors",
    "LockTimeoutError": "errors",
    "RemoteError": "errors",
    "StorageError": "errors",
    "IntegrityError": "errors",
    "Interrupted": "errors",
}
# A name its module spells otherwise.
_RENAMED = {"VerifyReport": "Report"}

__all__ = [
    "Accumulated",
    "AliasList",
    "AliasResult",
    "AnnotateResult",
    "CheckReport",
    "CompletionScript",
    "ConflictError",
    "Decided",
    "DeployCheckResult",
    "DeployResult",
    "DeployedResult",
    "DiffResult",
    "Evaluation",
    "FileEntry",
    "Filed",
    "Finding",
    "GcReport",
    "ImportReport",
    "Initialized",
    "IntegrityError",
    "Interrupted",
    "LockTimeoutError",
    "LogResult",
    "ModelList",
    "ModelSummary",
    "ModelView",
    "ModelregError",
    "NotFoundError",
    "ObserveResult",
    "PolicyError",
    "PromoteResult",
    "Ref",
    "RegisterResult",
    "Registry",
    "RemoteError",
    "RemoveResult",
    "ReportResult",
    "Reported",
    "Request",
    "RequestList",
    "RuleResult",
    "Served",
    "SignResult",
    "Stats",
    "StorageError",
    "SyncResult",
    "TransferReport",
    "TrustStatus",
    "UndeployResult",
    "UnusedClaim",
    "UpgradeReport",
    "Usage",
    "UsageError",
    "VerifyReport",
    "Version",
    "VersionList",
    "VersionView",
    "WhichResult",
    "completion_script",
    "find_root",
    "parse_ref",
]

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing here would slow start-up
if TYPE_CHECKING:
    from .base.effects import Accumulated, Reported
    from .cli.completion_script import CompletionScript, completion_script
    from .errors import (
        ConflictError,
        IntegrityError,
        Interrupted,
        LockTimeoutError,
        ModelregError,
        NotFoundError,
        PolicyError,
        RemoteError,
        StorageError,
        UsageError,
    )
    from .ops.deployments.check import DeployCheckResult
    from .ops.deployments.deploy import DeployResult, UndeployResult
    from .ops.deployments.deployed import DeployedResult
    from .ops.deployments.observe import ObserveResult
    from .ops.deployments.which import WhichResult
    from .ops.events.trust import TrustStatus
    from .ops.findings import Finding
    from .ops.findings import Report as VerifyReport
    from .ops.governance.approvals import Decided, Filed
    from .ops.governance.policy import Evaluation
    from .ops.governance.remove import RemoveResult
    from .ops.governance.rules import RuleResult
    from .ops.importers.report import ImportReport
    from .ops.lifecycle.alias import AliasResult
    from .ops.lifecycle.annotate import AnnotateResult
    from .ops.lifecycle.promote import PromoteResult
    from .ops.lifecycle.register import RegisterResult
    from .ops.proof.sign import SignResult
    from .ops.queries.listing import ModelSummary
    from .ops.report import ReportResult
    from .ops.serving.files import Served
    from .ops.storage.gc import GcReport
    from .ops.storage.stats import Stats, Usage
    from .ops.storage.transfer import TransferReport
    from .ops.storage.upgrade import UpgradeReport
    from .ops.teams.check import CheckReport
    from .ops.teams.sync import SyncResult
    from .ops.teams.unused import UnusedClaim
    from .ops.views import (
        AliasList,
        DiffResult,
        LogResult,
        ModelList,
        ModelView,
        RequestList,
        VersionList,
        VersionView,
    )
    from .records.manifest import FileEntry, Version
    from .records.refs import Ref, parse_ref
    from .records.requests import Request
    from .registry import Initialized, Registry, find_root


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelreg' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), _RENAMED.get(name, name))


def __dir__() -> list[str]:
    return [*globals(), *__all__]
