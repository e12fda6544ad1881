"""The claim protocol as a state machine (hypothesis): writers claim numbers of one model on a real
directory engine whose answers may be lost after the write was applied, or that die between
claiming and recording. Whatever the interleaving: each number is claimed once, by one writer,
forever; claimed numbers stay dense; a writer never takes two numbers in one claim, and always
gets the number whose claim carries its nonce."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from modelreg.errors import RemoteError
from modelreg.ops.teams.claims import claim_next, read_claim
from modelreg.ops.teams.engine import ObjectEngine
from modelreg.stores.remotes.backend import Retrying
from modelreg.stores.remotes.directory import DirectoryBackend


class LosingAnswers(DirectoryBackend):
    """A directory whose next ``lose`` applied creates raise as if the answer never came."""

    lose = 0

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, RemoteError)

    def create(self, key: str, data: bytes) -> bool:
        applied = super().create(key, data)
        if applied and self.lose > 0:
            self.lose -= 1
            raise RemoteError("the answer was lost")
        return applied


class Claims(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="claims-sm-"))
        self.backend = LosingAnswers(self.dir)
        self.engine = ObjectEngine(Retrying(self.backend, attempts=4, pause=0))
        self.taken: dict[int, str] = {}  # number -> nonce of the writer it went to
        self.recorded: set[int] = set()
        self.hint = 1  # what the clone knows: one past its highest recorded version

    def teardown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(lost=st.integers(min_value=0, max_value=3), records=st.booleans(), stale=st.integers(0, 3))
    def claim(self, lost: int, records: bool, stale: int) -> None:
        """One register: maybe with lost answers, maybe dying before it records, maybe from a
        clone whose hint lags behind what others claimed."""
        self.backend.lose = lost
        got = claim_next(self.engine, "churn", max(1, self.hint - stale), actor="w", time="2026-01-01T00:00:00Z")
        number = got.claim.version
        assert number not in self.taken, f"{number} given twice"
        held = read_claim(self.engine, "churn", number)
        assert held is not None and held.nonce == got.claim.nonce
        self.taken[number] = got.claim.nonce
        if records:
            self.recorded.add(number)
            self.hint = max(self.hint, number + 1)

    @invariant()
    def claimed_once_and_dense(self) -> None:
        numbers = self.engine.claimed("churn")
        assert numbers == list(range(1, len(numbers) + 1))
        assert set(numbers) == set(self.taken)
        for number, nonce in self.taken.items():
            held = read_claim(self.engine, "churn", number)
            assert held is not None and held.nonce == nonce


Claims.TestCase.settings = settings(max_examples=30, stateful_step_count=12, deadline=None)
TestClaims = Claims.TestCase
