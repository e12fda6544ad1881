"""Property tests: name validation, reference parsing, manifest round trip, file-set digest."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from modelreg.errors import UsageError
from modelreg.records import yamlio
from modelreg.records.manifest import FileEntry, Version, file_set_digest, parse_manifest
from modelreg.records.names import validate_name
from modelreg.records.refs import parse_ref

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LOWER_DIGITS = string.ascii_lowercase + string.digits
NAME_CHARS = LOWER_DIGITS + "._-"


def spec_accepts_name(text: str) -> bool:
    """The spec's wording, independently: lowercase letters, digits, '.', '_', '-'; starts with a
    letter or digit; at most 100 characters (and, being a name, at least one)."""
    if not 1 <= len(text) <= 100:
        return False
    if text[0] not in LOWER_DIGITS:
        return False
    return all(ch in NAME_CHARS for ch in text)


def name_verdict(text: str) -> bool:
    try:
        assert validate_name(text) == text
    except UsageError as exc:
        assert exc.exit_code == 2
        assert "lowercase" in exc.message and "100" in exc.message, "the rule is in the message"
        return False
    return True


valid_names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,99}", fullmatch=True)
# Mostly-valid characters with a few troublemakers, so both verdicts come up often.
near_names = st.text(
    alphabet=st.sampled_from([*NAME_CHARS, "A", "Z", " ", "/", "\\", "@", "\n", "\t", "é", "ß", "İ", "\u0661", "\0"]),
    max_size=110,
)


@SETTINGS
@given(valid_names)
def test_every_name_of_the_rule_is_accepted(name: str) -> None:
    assert spec_accepts_name(name)
    assert name_verdict(name) is True


@SETTINGS
@given(st.one_of(st.text(max_size=120), near_names))
@example("")
@example("a" * 100)
@example("a" * 101)
@example("Bad Name")
@example("../x")
@example("x/y")
@example(".hidden")
@example("_x")
@example("-x")
@example("abc\n")
@example("ǆ")  # a lowercase letter outside ASCII
def test_name_validation_matches_the_spec(text: str) -> None:
    assert name_verdict(text) is spec_accepts_name(text)


@SETTINGS
@given(st.integers(min_value=90, max_value=110), st.sampled_from(LOWER_DIGITS))
def test_name_length_limit(length: int, ch: str) -> None:
    assert name_verdict(ch * length) is (length <= 100)


# -- references ---------------------------------------------------------------------------------------

stage_names = st.from_regex(r"[a-z][a-z0-9_-]{0,39}", fullmatch=True)


@st.composite
def valid_refs(draw: st.DrawFn) -> tuple[str, str]:
    """(a reference as a user could type it, its normalised form)."""
    name = draw(valid_names)
    kind = draw(st.sampled_from(["bare", "latest", "version", "stage", "digest"]))
    if kind == "bare":
        return name, f"{name}@latest"
    if kind == "latest":
        return f"{name}@latest", f"{name}@latest"
    if kind == "version":
        number = draw(st.integers(min_value=1, max_value=10**12))
        zeros = draw(st.integers(min_value=0, max_value=2))
        return f"{name}@{'0' * zeros}{number}", f"{name}@{number}"
    if kind == "stage":
        stage = draw(stage_names)
        return f"{name}@{stage}", f"{name}@{stage}"
    hexpart = draw(st.text(alphabet="0123456789abcdefABCDEF", min_size=8, max_size=64))
    return f"{name}@sha256:{hexpart}", f"{name}@sha256:{hexpart.lower()}"


@SETTINGS
@given(valid_refs())
def test_parse_ref_round_trips(pair: tuple[str, str]) -> None:
    typed, normalised = pair
    ref = parse_ref(typed)
    assert str(ref) == normalised
    assert parse_ref(str(ref)) == parse_ref(normalised)
    assert str(parse_ref(normalised)) == normalised
    assert ref.name == typed.partition("@")[0]
    assert ref.explicit is ("@" in typed)
    chosen = [ref.version is not None, ref.stage is not None, ref.digest_prefix is not None]
    assert sum(chosen) <= 1
    assert ref.is_latest is (sum(chosen) == 0)


def _ref_text() -> st.SearchStrategy[str]:
    tail = st.one_of(
        st.text(max_size=30),
        st.from_regex(r"(sha256:)?[0-9a-fA-F]{0,70}", fullmatch=True),
        st.from_regex(r"-?[0-9]{1,6}", fullmatch=True),
        st.sampled_from(["", "latest", "LATEST", "0", "00", "sha256:", "1.5", "@", "prod uction", "١٢"]),
    )
    head = st.one_of(valid_names, near_names)
    return st.one_of(st.text(max_size=60), st.builds(lambda n, t: f"{n}@{t}", head, tail))


@SETTINGS
@given(_ref_text())
@example("m@0")
@example("m@")
@example("m@sha256:abc")
@example("m@sha256:" + "a" * 65)
@example("m@1@2")
@example("@1")
def test_invalid_refs_raise_usage_error_and_nothing_else(text: str) -> None:
    try:
        ref = parse_ref(text)
    except UsageError as exc:
        assert exc.exit_code == 2 and exc.message
        return
    # Whatever parses is stable under printing and parsing again.
    assert parse_ref(str(ref)) == parse_ref(str(parse_ref(str(ref))))
    assert str(parse_ref(str(ref))) == str(ref)
    assert spec_accepts_name(ref.name)


def test_huge_version_reference_is_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_ref("m@" + "9" * 5000)


# -- manifest round trip -------------------------------------------------------------------------------

texts = st.text(max_size=40)
finite_numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
lineages = st.dictionaries(
    texts,
    st.recursive(
        json_scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
        max_leaves=8,
    ),
    max_size=5,
)
hex64 = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
file_entries = st.builds(
    FileEntry,
    path=st.text(min_size=1, max_size=40),
    size=st.integers(min_value=0, max_value=2**50),
    digest=hex64.map(lambda h: "sha256:" + h),
)


@st.composite
def versions(draw: st.DrawFn) -> Version:
    files = draw(st.lists(file_entries, min_size=1, max_size=5, unique_by=lambda f: f.path))
    return Version(
        name=draw(valid_names),
        version=draw(st.integers(min_value=1, max_value=10**6)),
        digest="sha256:" + draw(hex64),
        initial_stage=draw(stage_names),
        created_at=draw(texts),
        created_by=draw(texts),
        files=tuple(files),
        description=draw(st.text(max_size=200)),
        metrics=draw(st.dictionaries(texts, finite_numbers, max_size=5)),
        params=draw(st.dictionaries(texts, texts, max_size=5)),
        tags=draw(st.dictionaries(texts, texts, max_size=5)),
        lineage=draw(lineages),
    )


@SETTINGS
@given(versions())
@example(
    Version(
        name="m",
        version=1,
        digest="sha256:" + "0" * 64,
        initial_stage="development",
        created_at="2026-01-01T00:00:00Z",
        created_by="Zoë 张",
        files=(FileEntry("a b/ü.bin", 0, "sha256:" + "1" * 64),),
        description="multi\nline: yes\n- not a list\n#not a comment",
        metrics={"true": 1e300, "null": -0.0},
        params={"yes": "no", "1.0": "~"},
        tags={"": "", "k": "'\"\\"},
        lineage={"x": [None, True, 1.5]},
    )
)
def test_manifest_round_trip(version: Version) -> None:
    text = yamlio.dumps(version.to_manifest())
    back = parse_manifest(yamlio.loads(text))
    assert back == version
    assert yamlio.dumps(back.to_manifest()) == text, "writing is deterministic (stable diffs)"


# -- file-set digest -------------------------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(file_entries, min_size=1, max_size=8, unique_by=lambda f: f.path).flatmap(
        lambda files: st.tuples(st.just(files), st.permutations(files))
    )
)
def test_file_set_digest_ignores_order(pair: tuple[list[FileEntry], list[FileEntry]]) -> None:
    files, shuffled = pair
    digest = file_set_digest(files)
    assert digest.startswith("sha256:") and len(digest) == 71
    assert file_set_digest(list(shuffled)) == digest


@SETTINGS
@given(st.lists(file_entries, min_size=1, max_size=6, unique_by=lambda f: f.path), st.data())
def test_file_set_digest_changes_with_content(files: list[FileEntry], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(files) - 1))
    entry = files[index]
    field = data.draw(st.sampled_from(["path", "size", "digest"]))
    if field == "path":
        new_path = data.draw(st.text(min_size=1, max_size=40))
        assume(all(new_path != f.path for f in files))
        changed = FileEntry(new_path, entry.size, entry.digest)
    elif field == "size":
        changed = FileEntry(entry.path, entry.size + 1, entry.digest)
    else:
        new_digest = "sha256:" + data.draw(hex64)
        assume(new_digest != entry.digest)
        changed = FileEntry(entry.path, entry.size, new_digest)
    altered = [*files[:index], changed, *files[index + 1 :]]
    assert file_set_digest(altered) != file_set_digest(files)
