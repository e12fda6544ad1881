"""Judging a file's recorded facts against an allowlist: ``safe``, ``unsafe`` or ``unknown``.

Default deny: a pickle-bearing file is safe only when every global it imports is allowed. The
built-in list covers what ordinary model pickles need and nothing that runs code of the
pickle's choosing: NumPy arrays, dtypes and scalars (1.x and 2.x module names), NumPy's random
generators, scikit-learn estimator classes, joblib's array wrappers, PyTorch's tensor and
storage rebuilds, and the standard containers. ``[safety] allow`` in ``modelreg.toml`` adds
exact ``module.Name`` entries. The judgment is made when asked, from the facts that
``register`` recorded, so a change to the allowlist applies to every version at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelreg.records.manifest import Version

_NUMPY = (
    [
        f"{core}.{name}"
        for core in ("numpy.core.multiarray", "numpy._core.multiarray")
        for name in ("_reconstruct", "scalar")
    ]
    + [
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.ma.core._mareconstruct",
        "numpy.ma.core.MaskedArray",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand.RandomState",
        "numpy.random._generator.Generator",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random.bit_generator.SeedSequence",
        "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    ]
    + [
        f"numpy.{t}"
        for t in [
            "bool_",
            "int8",
            "int16",
            "int32",
            "int64",
            "uint8",
            "uint16",
            "uint32",
            "uint64",
            "intc",
            "uintc",
            "longlong",
            "ulonglong",
            "float16",
            "float32",
            "float64",
            "longdouble",
            "complex64",
            "complex128",
            "clongdouble",
            "str_",
            "bytes_",
            "void",
            "datetime64",
            "timedelta64",
            "object_",
        ]
    ]
)
_JOBLIB = [
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "joblib.numpy_pickle_compat.NDArrayWrapper",
    "joblib.numpy_pickle_compat.ZNDArrayWrapper",
]
_TORCH = (
    [
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._tensor._rebuild_from_type_v2",
        "torch.serialization._get_layout",
        "torch.Size",
        "torch.device",
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
        "torch.storage.UntypedStorage",
        "torch.storage.TypedStorage",
        "torch.UntypedStorage",
    ]
    + [
        f"torch.{kind}Storage"
        for kind in [
            "Float",
            "Double",
            "Half",
            "BFloat16",
            "Long",
            "Int",
            "Short",
            "Char",
            "Byte",
            "Bool",
            "ComplexFloat",
            "ComplexDouble",
        ]
    ]
    + [
        f"torch.{dtype}"
        for dtype in [
            "float32",
            "float64",
            "float16",
            "bfloat16",
            "int64",
            "int32",
            "int16",
            "int8",
            "uint8",
            "bool",
            "complex64",
            "complex128",
            "float8_e4m3fn",
            "float8_e5m2",
        ]
    ]
)
_STANDARD = [
    f"builtins.{name}"
    for name in [
        "set",
        "frozenset",
        "bytearray",
        "bytes",
        "complex",
        "slice",
        "range",
        "list",
        "dict",
        "tuple",
        "int",
        "float",
        "str",
        "bool",
        "object",
    ]
] + [
    "collections.OrderedDict",
    "collections.defaultdict",
    "collections.Counter",
    "collections.deque",
    "datetime.datetime",
    "datetime.date",
    "datetime.time",
    "datetime.timedelta",
    "datetime.timezone",
    "decimal.Decimal",
    "fractions.Fraction",
    "uuid.UUID",
    "copyreg._reconstructor",
    "_codecs.encode",  # protocol 2's bytes: encodes a string; a codec name imports only from encodings
]
BUILTIN_ALLOW = frozenset(_NUMPY + _JOBLIB + _TORCH + _STANDARD)

# scikit-learn estimators are hundreds of classes: any CapWords class defined in a sklearn module
# (``sklearn.linear_model._logistic.LogisticRegression``). A dotted name (``module:a.b``, an
# attribute walk) never matches, so a name cannot reach a module sklearn imports (``os``).
_SKLEARN_CLASS = re.compile(r"sklearn(\.[a-z_][a-z0-9_]*)+\.[A-Z][A-Za-z0-9]*")
_NUMPY_DTYPE_CLASS = re.compile(r"numpy\.dtypes\.[A-Z][A-Za-z0-9]*DType")


def allowed(name: str, extra: frozenset[str] = frozenset()) -> bool:
    return (
        name in BUILTIN_ALLOW
        or name in extra
        or bool(_SKLEARN_CLASS.fullmatch(name))
        or bool(_NUMPY_DTYPE_CLASS.fullmatch(name))
    )


@dataclass(frozen=True)
class Verdict:
    safety: str  # safe | unsafe | unknown
    outside: tuple[str, ...] = ()  # imports outside the allowlist
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"safety": self.safety}
        if self.outside:
            data["unsafe_imports"] = list(self.outside)
        if self.detail:
            data["safety_detail"] = self.detail
        return data


def judge(fmt: str | None, imports: Iterable[str] | None, unreadable: str | None, extra: frozenset[str]) -> Verdict:
    """The safety of one file from its recorded facts."""
    if fmt is None:
        return Verdict("unknown", detail="registered before modelreg recorded file formats")
    if imports is None:
        return Verdict("safe")
    outside = tuple(sorted(i for i in imports if not allowed(i, extra)))
    if outside:
        shown = ", ".join(outside[:5]) + (f" and {len(outside) - 5} more" if len(outside) > 5 else "")
        return Verdict("unsafe", outside, f"imports {shown}, outside the allowlist")
    if unreadable:
        return Verdict("unknown", detail=f"could not be read to the end: {unreadable}")
    return Verdict("safe")


def judged_files(allow: frozenset[str], version: Version) -> list[dict[str, Any]]:
    """Each file of ``version`` with its recorded format and its safety against ``allow``."""
    return [
        {"path": f.path, "format": f.format, **judge(f.format, f.imports, f.unreadable, allow).to_json()}
        for f in version.files
    ]


def version_json(allow: frozenset[str], version: Version) -> dict[str, Any]:
    """The version object as commands show it: each file with its ``format`` and ``safety``."""
    data = version.to_json()
    judged = {item["path"]: item for item in judged_files(allow, version)}
    data["files"] = [{**f.to_dict(), **judged[f.path]} for f in version.files]
    return data
