"""When an S3 remote's plain calls go through obstore, and what its failures mean: the lane is
taken only where it reaches the very bucket, region and credentials botocore's client would
(else botocore does every call), and obstore's errors become the right modelreg errors."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("obstore")

from obstore.exceptions import GenericError

from modelreg.stores.remotes.s3 import S3Backend
from modelreg.stores.remotes.s3_light import light_settings, translate_error
from modelreg.stores.remotes.s3_obstore import LaneDeclined, _unsatisfiable, lane_transient, open_lane

KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}
ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("AWS_") or name.upper().endswith("_PROXY") or name.startswith("MODELREG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "endpoint", "region", "expected"),
    [
        ({**KEYS}, ENDPOINT, None, ("us-east-1", ENDPOINT)),  # an S3-compatible store: us-east-1, as botocore
        ({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, None, None, ("eu-west-1", None)),  # AWS, region named
        ({**KEYS}, None, "eu-west-1", ("eu-west-1", None)),  # the registry names it
        ({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, None, "us-west-2", ("us-west-2", None)),  # the registry wins
        ({**KEYS}, None, None, None),  # AWS with no region: botocore follows the bucket to its region
        ({**KEYS, "AWS_REGION": "eu-west-1"}, None, None, None),  # read or not, by botocore's version
        ({**KEYS, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}, ENDPOINT, None, None),
        ({**KEYS, "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}, ENDPOINT, None, ("eu-west-1", ENDPOINT)),  # noqa: E501
        ({**KEYS, "AWS_ENDPOINT_URL": ENDPOINT}, None, None, ("us-east-1", ENDPOINT)),  # botocore reads it too
        ({**KEYS, "MODELREG_ENDPOINT_URL": ENDPOINT}, None, None, None),  # botocore does not read this one
        ({**KEYS, "AWS_TOKEN": "stale"}, ENDPOINT, None, None),  # obstore's own name for a session token
        ({**KEYS, "AWS_SERVER_SIDE_ENCRYPTION": "aws:kms"}, ENDPOINT, None, None),  # obstore sends it, botocore not
        ({**KEYS, "AWS_REQUEST_PAYER": "true"}, ENDPOINT, None, None),
        ({**KEYS, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL": ENDPOINT}, None, None, None),
        ({**KEYS, "AWS_PROFILE": "reader"}, ENDPOINT, None, None),
        ({"AWS_PROFILE": "reader"}, ENDPOINT, None, None),  # no keys: botocore's chain
        ({**KEYS, "HTTPS_PROXY": "http://proxy:3128"}, ENDPOINT, None, None),
    ],
)
def test_the_lane_is_taken_only_where_it_reaches_what_botocore_would(
    clean_env: pytest.MonkeyPatch,
    env: dict[str, str],
    endpoint: str | None,
    region: str | None,
    expected: tuple[str, str | None] | None,
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    settings = light_settings(endpoint, region, as_botocore=True)
    assert (None if settings is None else (settings["region"], settings["endpoint"])) == expected
    lane = open_lane("bucket", "prefix/", "s3://bucket/prefix", endpoint, region)
    assert (lane is not None) is (expected is not None)


def test_botocore_can_be_asked_for_every_call(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in KEYS.items():
        clean_env.setenv(name, value)
    assert open_lane("bucket", "", "s3://bucket", ENDPOINT, None) is not None
    clean_env.setenv("MODELREG_S3_CLIENT", "botocore")
    assert open_lane("bucket", "", "s3://bucket", ENDPOINT, None) is None


def _answer(status: str, code: str, key: str = "sha256/41/" + "416" * 21 + "a", body: str = "") -> GenericError:
    """An error as object_store words it: the request, the status, the server's XML."""
    return GenericError(
        f"Generic S3 error: Error performing GET http://127.0.0.1:4160/bucket/{key} in 416.2ms - Server "
        f"returned non-2xx status code: {status}: <?xml version=\"1.0\"?><Error><Code>{code}</Code>"
        f"<Message>{body or 'no'}</Message></Error>"
    )


def test_a_refusal_is_an_auth_error_whatever_digits_the_key_or_the_url_hold() -> None:
    refused = _answer("403 Forbidden", "SignatureDoesNotMatch")
    assert not _unsatisfiable(refused)
    error = translate_error(refused, "s3://bucket")
    assert error.code == "remote_auth" and error.exit_code == 4
    assert _unsatisfiable(_answer("416 Range Not Satisfiable", "InvalidRange"))


def test_a_huge_error_body_makes_a_short_message() -> None:
    error = translate_error(_answer("500 Internal Server Error", "InternalError", body="x" * (8 << 20)), "s3://b")
    assert error.code == "remote_error" and len(error.message) < 300 and "500 InternalError" in error.message


@pytest.mark.parametrize(
    ("status", "code", "transient"),
    [
        ("503 Service Unavailable", "SlowDown", True),
        ("500 Internal Server Error", "InternalError", True),
        ("429 Too Many Requests", "TooManyRequests", True),
        ("403 Forbidden", "AccessDenied", False),
        ("404 Not Found", "NoSuchBucket", False),
    ],
)
def test_server_errors_and_throttling_are_tried_again_refusals_never(status: str, code: str, transient: bool) -> None:
    assert lane_transient(_answer(status, code)) is transient
    assert lane_transient(OSError("not obstore's")) is None


def test_s3s_redirect_to_the_buckets_region_hands_the_remote_to_botocore_for_good(
    clean_env: pytest.MonkeyPatch,
) -> None:
    """S3 answers a request signed for the wrong region with a 301 that has no Location, which
    object_store words as a bare redirect; botocore follows the bucket to its region."""
    for name, value in KEYS.items():
        clean_env.setenv(name, value)
    lane = open_lane("bucket", "", "s3://bucket", ENDPOINT, None)
    assert lane is not None
    bare = GenericError(
        "Generic S3 error: Error performing PUT http://127.0.0.1:9/bucket/x in 2ms: Received redirect "
        "without LOCATION, this normally indicates an incorrectly configured region"
    )
    for moved in (bare, _answer("400 Bad Request", "AuthorizationHeaderMalformed")):
        declined = lane._failed(moved)
        assert isinstance(declined, LaneDeclined) and declined.permanent


S3_BUCKET = "modelreg-lane-decisions"


@pytest.fixture(scope="module")
def s3server(s3_server: Any) -> Any:
    s3_server.create_bucket(S3_BUCKET)
    return s3_server


def test_a_declined_call_is_made_by_botocore_and_a_permanent_decline_keeps_the_lane_off(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = request.getfixturevalue("aws_env")
    backend = S3Backend(S3_BUCKET, f"d-{secrets.token_hex(6)}", endpoint_url=server.endpoint_url)
    lane = backend._lane
    assert lane is not None
    backend.write("packs/a", b"abc")  # through the lane

    def unparsable(prefix: str) -> dict[str, int]:
        raise LaneDeclined("Encountered object with invalid path", permanent=False)

    monkeypatch.setattr(lane, "list", unparsable)
    assert backend.list("packs/") == {"packs/a": 3} and backend._lane is lane  # botocore listed it

    def moved(key: str, start: int, end: int) -> memoryview:
        raise LaneDeclined("the bucket answers from elsewhere", permanent=True)

    monkeypatch.setattr(lane, "read_range_view", moved)
    assert bytes(backend.read_range_view("packs/a", 1, 3)) == b"bc" and backend._lane is None
    assert backend.read("packs/a", 10) == b"abc"  # botocore from now on
