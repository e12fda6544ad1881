"""The static pickle scanner and format reader: what a file would import, read from its bytes.

Every malicious pickle here is built by hand and only ever read as bytes; each would create a
marker file if anything executed it, and the marker never appears."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelreg.ops.proof.fileformats import facts_of, read_facts
from modelreg.ops.proof.pickles import UNRESOLVED, scan
from modelreg.ops.proof.safety import judge


def _marker_cmd(tmp_path: Path) -> bytes:
    return f"touch {tmp_path / 'EXECUTED'}".encode()


def protocol0_system(cmd: bytes) -> bytes:
    return b"cos\nsystem\n(S'" + cmd + b"'\ntR."


def stack_global_memo(cmd: bytes) -> bytes:
    """Protocol 4: the module and name strings stored in the memo, popped, and fetched back
    with BINGET before STACK_GLOBAL, so a scanner that reads only adjacent strings misses them."""
    out = b"\x80\x04"
    out += b"\x8c\x02os\x94"  # 'os', memo 0
    out += b"\x8c\x06system\x94"  # 'system', memo 1
    out += b"00"  # both popped off the stack
    out += b"h\x00h\x01\x93"  # BINGET 0, BINGET 1, STACK_GLOBAL
    out += b"\x8c" + bytes([len(cmd)]) + cmd + b"\x85R."
    return out


def stack_global_binstring(cmd: bytes) -> bytes:
    """STACK_GLOBAL fed by protocol-2 SHORT_BINSTRING values, which Python 3 reads as ASCII str."""
    return b"\x80\x04U\x02osU\x06system\x93U" + bytes([len(cmd)]) + cmd + b"\x85R."


def stack_global_dynamic() -> bytes:
    """A module name that is the result of a call: no scanner can know it statically."""
    return b"\x80\x04\x8c\x08builtins\x8c\x03str\x93\x8c\x02os\x85R\x8c\x06system\x93N\x85R."


def inst_system(cmd: bytes) -> bytes:
    return b"(S'" + cmd + b"'\nios\nsystem\n."


def facts(data: bytes):  # type: ignore[no-untyped-def]
    return facts_of(io.BytesIO(data), len(data))


def verdict(data: bytes, allow: frozenset[str] = frozenset()) -> str:
    f = facts(data)
    return judge(f.format, f.imports, f.unreadable, allow).safety


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda c: protocol0_system(c), "os.system"),
        (lambda c: stack_global_memo(c), "os.system"),
        (lambda c: stack_global_binstring(c), "os.system"),
        (lambda c: inst_system(c), "os.system"),
        (lambda c: b"\x80\x02" + protocol0_system(c), "posix.system" if False else "os.system"),
    ],
)
def test_malicious_pickles_are_unsafe_and_never_run(tmp_path: Path, build, expected) -> None:  # type: ignore[no-untyped-def]
    data = build(_marker_cmd(tmp_path))
    f = facts(data)
    assert f.format == "pickle"
    assert expected in (f.imports or ())
    assert verdict(data) == "unsafe"
    assert not (tmp_path / "EXECUTED").exists()


def test_a_name_computed_at_load_time_is_unresolved_and_unsafe() -> None:
    f = facts(stack_global_dynamic())
    assert UNRESOLVED in (f.imports or ())
    assert verdict(stack_global_dynamic()) == "unsafe"


def test_an_attribute_walk_never_reads_as_an_allowed_name() -> None:
    # Protocol 4 resolves "multiarray.os.system" from numpy.core by getattr: recorded with a colon.
    data = b"\x80\x04\x8c\x0anumpy.core\x8c\x14multiarray.os.system\x93N\x85R."
    f = facts(data)
    assert f.imports == ("numpy.core:multiarray.os.system",)
    assert verdict(data) == "unsafe"
    sk = b"\x80\x04\x8c\x0csklearn.base\x8c\x08os.Popen\x93N\x85R."
    assert verdict(sk) == "unsafe"


def test_copyreg_extensions_are_unsafe() -> None:
    data = b"\x80\x02\x82\x01N\x85R."
    assert facts(data).imports == ("<extension 1>",)
    assert verdict(data) == "unsafe"


def test_a_pickle_cut_after_its_call_is_unsafe_and_a_cut_benign_one_unknown(tmp_path: Path) -> None:
    evil = protocol0_system(_marker_cmd(tmp_path))[:-1] + b"\xff garbage"
    f = facts(evil)
    assert f.imports == ("os.system",) and f.unreadable
    assert verdict(evil) == "unsafe"
    benign = pickle.dumps({"a": [1, 2, 3]}, protocol=4)[:-3]
    f = facts(benign)
    assert f.format == "pickle" and f.unreadable and f.imports == ()
    assert verdict(benign) == "unknown"


def test_a_zip_whose_inner_pickle_is_malicious_is_unsafe(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", stack_global_memo(_marker_cmd(tmp_path)))
        zf.writestr("archive/data/0", b"\x00" * 64)
        zf.writestr("archive/version", b"3\n")
    f = facts(buf.getvalue())
    assert f.format == "pytorch"
    assert f.imports == ("os.system",)
    assert verdict(buf.getvalue()) == "unsafe"
    # Compressed members are read too, and a zip named anything is still a zip.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("weights/model.pkl", protocol0_system(b"true"))
    assert facts(buf.getvalue()).imports == ("os.system",)


def test_numpy_arrays_of_every_protocol_are_safe() -> None:
    np = pytest.importorskip("numpy")
    values = [np.arange(10.0), np.ones((3, 4), dtype=np.int32), np.array(["a", "bc"]), np.float64(2.5),
              np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), np.array(["2020-01-01"], dtype="M8[D]"),
              np.array([1, "x"], dtype=object), np.random.default_rng(0), np.random.RandomState(1)]  # fmt: skip
    for value in values:
        for protocol in range(6):
            data = pickle.dumps(value, protocol=protocol)
            f = facts(data)
            assert f.format == "pickle" and f.unreadable is None, (value, protocol, f)
            assert verdict(data) == "safe", (value, protocol, f.imports)


def test_numpy_files(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    np.save(tmp_path / "a.npy", np.arange(100))
    assert read_facts(tmp_path / "a.npy").format == "numpy"
    assert read_facts(tmp_path / "a.npy").imports is None
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    f = read_facts(tmp_path / "o.npy")
    assert f.format == "numpy" and f.imports is not None and f.unreadable is None
    np.savez(tmp_path / "z.npz", a=np.arange(3), b=np.ones(2))
    assert read_facts(tmp_path / "z.npz").format == "npz"
    # An object array inside an .npz whose pickle imports os.system.
    header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + protocol0_system(b"true")
    with zipfile.ZipFile(tmp_path / "evil.npz", "w") as zf:
        zf.writestr("x.npy", npy)
    f = read_facts(tmp_path / "evil.npz")
    assert f.format == "npz" and f.imports == ("os.system",)


def test_joblib_dumps_with_raw_array_bytes_and_scikit_learn_are_safe(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    joblib = pytest.importorskip("joblib")
    sklearn = pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert sklearn
    x = np.random.default_rng(0).random((50, 4))
    y = (x[:, 0] > 0.5).astype(int)
    models = {
        "forest": RandomForestClassifier(n_estimators=3, random_state=np.random.RandomState(0)).fit(x, y),
        "pipe": make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
        "mixed": {"a": np.arange(1000.0), "o": np.array([1, "x"], dtype=object), "f": np.ones((7, 3), order="F")},
    }
    for name, model in models.items():
        joblib.dump(model, tmp_path / f"{name}.joblib")
        f = read_facts(tmp_path / f"{name}.joblib")
        assert f.format == "joblib" and f.unreadable is None, (name, f)
        assert judge(f.format, f.imports, f.unreadable, frozenset()).safety == "safe", f.imports
        for protocol in (2, 5):
            data = pickle.dumps(model, protocol=protocol)
            assert verdict(data) == "safe", (name, protocol)
    joblib.dump(models["forest"], tmp_path / "forest.gz.joblib", compress=("gzip", 3))
    f = read_facts(tmp_path / "forest.gz.joblib")
    assert (f.format, f.compression, f.unreadable) == ("joblib", "gzip", None)
    joblib.dump(models["mixed"], tmp_path / "mixed.z.joblib", compress=3)
    f = read_facts(tmp_path / "mixed.z.joblib")
    assert (f.format, f.compression, f.unreadable) == ("joblib", "zlib", None)


def test_an_lz4_stream_is_never_judged_safe() -> None:
    data = b"\x04\x22\x4d\x18" + b"\x00" * 32
    assert (facts(data).compression, verdict(data)) == ("lz4", "unknown")


def test_a_compressed_malicious_pickle_is_unsafe() -> None:
    data = gzip.compress(stack_global_memo(b"true"))
    f = facts(data)
    assert (f.format, f.compression, f.imports) == ("pickle", "gzip", ("os.system",))


def test_tensor_and_plain_formats() -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    assert facts(struct.pack("<Q", len(header)) + header + b"\x00" * 8).format == "safetensors"
    assert facts(b"GGUF\x03\x00\x00\x00" + b"\x00" * 16).format == "gguf"
    assert facts(b"\x08\x07\x12\x07pytorch\x1a\x03" + b"\x00" * 8).format == "onnx"
    text_like_globals = (
        b"city\nParis\nLondon\nRome\n",
        b"# notes\n\ncolumns\nrows\nmore text\n",
        b"(config\nname\nvalue\n",
    )
    for plain in (b"col1,col2\n1,2\n", b'{"a": 1}', b"", b"(hello) world\n", b"\x00\x01\x02", *text_like_globals):
        f = facts(plain)
        assert (f.format, f.imports) == ("data", None), plain
        assert verdict(plain) == "safe"


_OPCODES = sorted(set(b"IJKLSTUBCVNFGXa]el)t}dsu0(12gjhpqrcbiRo.\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b"
                      b"\x8c\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98PQ"))  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(_OPCODES).map(lambda b: bytes([b])), st.binary(max_size=12)), max_size=60))
def test_random_opcode_streams_never_crash_or_hang(parts: list[bytes]) -> None:
    data = b"\x80\x04" + b"".join(parts)
    found = scan(io.BytesIO(data))
    assert found.complete or found.problem
    f = facts(data)
    assert judge(f.format, f.imports, f.unreadable, frozenset()).safety in ("safe", "unsafe", "unknown")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    facts(data)
    scan(io.BytesIO(data))


def test_a_1_gib_file_is_read_in_bounded_memory(tmp_path: Path) -> None:
    """A 1 GiB pickle whose BINBYTES8 argument is skipped by seeking, and a 1 GiB safetensors
    file, are read by a separate process whose peak memory stays far below their size."""
    big = tmp_path / "big.pkl"
    size = 1 << 30
    with open(big, "wb") as fh:
        fh.write(b"\x80\x05\x8e" + struct.pack("<Q", size))
        fh.truncate(11 + size)
        fh.seek(11 + size)
        fh.write(b".")
    header = json.dumps({"w": {"dtype": "F32", "shape": [size // 4], "data_offsets": [0, size]}}).encode()
    tensors = tmp_path / "big.safetensors"
    with open(tensors, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + size)
    code = (
        "import re, sys\n"
        "from modelreg.ops.proof.fileformats import read_facts\n"
        "a = read_facts(sys.argv[1]); b = read_facts(sys.argv[2])\n"
        "peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(a.format, a.unreadable, b.format, peak)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(big), str(tensors)], capture_output=True, text=True, check=True
    )
    fmt_a, unreadable, fmt_b, peak_kib = out.stdout.split()
    assert (fmt_a, unreadable, fmt_b) == ("pickle", "None", "safetensors")
    assert int(peak_kib) < 200 * 1024
