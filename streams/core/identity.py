"""Who and what an event is, as short keyed hashes: the keys of de-duplication (pure, no I/O).

Two questions decide how an event counts (DOMAIN.md, "Privacy"; docs/guarantees.md):

- *Which event is it?* ``event_id`` is the idempotency key of both signals: a record sent twice
  counts once.
- *Who answered?* k-anonymity counts distinct people: an employee pulse's person is its
  ``respondent_ref`` when present, else the pulse itself (its ``event_id``).

Open-window state keeps only 64-bit keyed hashes of these identifiers (BLAKE2b keyed with the
HMAC secret): enough to tell them apart (two ids of one window collide with probability about
n²/2⁶⁵), never the identifiers themselves, and nobody without the secret can craft a collision
or test whether a given reference answered.
"""

from __future__ import annotations

import hashlib
from typing import Final

from schemas.records import EmployeePulse

KEY_BYTES: Final = 8
_BLAKE2B_MAX_KEY: Final = 64
# Domain separation: an event id and a respondent reference that happen to be the same
# string never share a key.
_EVENT: Final = b"e\x1f"
_RESPONDENT: Final = b"r\x1f"


class IdentityKeys:
    """Keyed 64-bit hashes of event ids and respondents, for one secret."""

    __slots__ = ("_event", "_respondent")

    def __init__(self, secret: bytes) -> None:
        # BLAKE2b takes keys up to 64 bytes; a longer secret is hashed down, the way HMAC does.
        key = secret if len(secret) <= _BLAKE2B_MAX_KEY else hashlib.blake2b(secret).digest()
        # Keyed and prefixed once: hashing an identifier then starts from a copy of this state,
        # which skips compressing the key block again for every event (the same digest as
        # hashing prefix + identifier from scratch).
        self._event = hashlib.blake2b(_EVENT, digest_size=KEY_BYTES, key=key)
        self._respondent = hashlib.blake2b(_RESPONDENT, digest_size=KEY_BYTES, key=key)

    @staticmethod
    def _hash(prefixed: hashlib.blake2b, identifier: str) -> int:
        state = prefixed.copy()
        state.update(identifier.encode("utf-8", "surrogatepass"))
        return int.from_bytes(state.digest(), "big")

    def event(self, event_id: str) -> int:
        """The key of an event: a re-sent record has the same one."""
        return self._hash(self._event, event_id)

    def respondent(self, pulse: EmployeePulse) -> int:
        """The key of the person behind a pulse: their reference, else the pulse itself."""
        if pulse.respondent_ref:
            return self._hash(self._respondent, pulse.respondent_ref)
        return self._hash(self._event, pulse.event_id)


# Used where no secret is configured (unit tests, direct use of WindowAggregate): the keys
# then only need to tell identifiers apart, not to hide them.
UNKEYED: Final = IdentityKeys(b"")


__all__ = ["KEY_BYTES", "UNKEYED", "IdentityKeys"]
