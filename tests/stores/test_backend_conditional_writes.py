"""Conditional writes behave the same on every backend: ``create`` stores only where nothing is,
``swap`` replaces only the object that was read, and of many threads racing for one key exactly
one wins (a directory and a real S3 server, SeaweedFS on loopback)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.s3server import SeaweedS3

from modelreg.errors import IntegrityError
from modelreg.stores.remotes.backend import Backend, Retrying
from modelreg.stores.remotes.directory import DirectoryBackend
from modelreg.stores.remotes.s3 import S3Backend

BUCKET = "modelreg-conditional"
RACERS = 12


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture(params=["directory", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "directory":
        root = tmp_path / "remote"
        root.mkdir()
        yield DirectoryBackend(root)
    else:
        server: SeaweedS3 = request.getfixturevalue("aws_env")
        yield S3Backend(BUCKET, f"c-{secrets.token_hex(6)}", endpoint_url=server.endpoint_url)


def race(count: int, work: Callable[[int], bool]) -> list[int]:
    """Run ``work(i)`` in ``count`` threads released together; the indexes that returned True."""
    barrier = threading.Barrier(count)
    won: list[int] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        barrier.wait()
        try:
            if work(i):
                won.append(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return won


def test_create_stores_only_where_nothing_is(backend: Backend) -> None:
    assert backend.create("claims/m/1", b"first") is True
    assert backend.create("claims/m/1", b"second") is False
    assert backend.read("claims/m/1", 100) == b"first"
    assert backend.list("claims/m/") == {"claims/m/1": 5}  # no temporary object left visible


def test_swap_replaces_only_the_object_that_was_read(backend: Backend) -> None:
    assert backend.create("pointers/m", b"generation 1") is True
    first = backend.read_tagged("pointers/m", 100)
    assert first is not None and first.data == b"generation 1"
    assert backend.swap("pointers/m", b"generation 2", first.tag) is True
    assert backend.swap("pointers/m", b"stale writer", first.tag) is False
    second = backend.read_tagged("pointers/m", 100)
    assert second is not None and second.data == b"generation 2" and second.tag != first.tag
    assert backend.swap("pointers/none", b"x", first.tag) is False
    assert backend.read("pointers/none", 10) is None


def test_read_tagged_is_bounded_and_none_for_nothing(backend: Backend) -> None:
    assert backend.read_tagged("nothing", 10) is None
    backend.write("big", b"x" * 100)
    with pytest.raises(IntegrityError):
        backend.read_tagged("big", 99)


def test_of_many_threads_creating_one_key_exactly_one_wins(backend: Backend) -> None:
    for round_ in range(3):
        key = f"claims/race/{round_}"
        won = race(RACERS, lambda i, key=key: backend.create(key, f"writer {i}".encode()))
        assert len(won) == 1
        assert backend.read(key, 100) == f"writer {won[0]}".encode()


def test_of_many_threads_swapping_from_one_read_exactly_one_wins(backend: Backend) -> None:
    backend.create("pointers/race", b"start")
    seen = backend.read_tagged("pointers/race", 100)
    assert seen is not None
    won = race(RACERS, lambda i: backend.swap("pointers/race", f"writer {i}".encode(), seen.tag))
    assert len(won) == 1
    assert backend.read("pointers/race", 100) == f"writer {won[0]}".encode()


def test_counting_up_by_swaps_loses_no_increment(backend: Backend) -> None:
    """Each thread adds one to a counter by read, swap, and again on a lost swap: none is lost."""
    backend.create("pointers/counter", b"0")
    adds = 4

    def add(_: int) -> bool:
        for _ in range(adds):
            while True:
                seen = backend.read_tagged("pointers/counter", 100)
                assert seen is not None
                if backend.swap("pointers/counter", str(int(seen.data) + 1).encode(), seen.tag):
                    break
        return True

    race(6, add)
    assert backend.read("pointers/counter", 100) == str(6 * adds).encode()


def test_the_retrying_wrapper_passes_conditional_writes_through(backend: Backend) -> None:
    wrapped = Retrying(backend, attempts=2, pause=0)
    assert wrapped.create("k", b"1") is True and wrapped.create("k", b"2") is False
    seen = wrapped.read_tagged("k", 10)
    assert seen is not None and wrapped.swap("k", b"3", seen.tag) is True
    assert backend.read("k", 10) == b"3"
