"""Privacy rules that touch records on their way to storage (k-anonymity lives in metrics)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac
from operator import attrgetter
from typing import Final

from schemas.records import CustomerFeedback

# Distinct references whose re-keyed form is remembered. The same customers come back (that is
# what a reference is for), and one HMAC costs more than the rest of storing their row; a bound
# keeps a stream of one-off references from growing the cache without limit.
REKEY_CACHE_SIZE: Final = 65_536

_CUSTOMER_FIELDS: Final = tuple(field.name for field in dataclasses.fields(CustomerFeedback))
_customer_values: Final = attrgetter(*_CUSTOMER_FIELDS)
_CUSTOMER_REF: Final = _CUSTOMER_FIELDS.index("customer_ref")


@functools.lru_cache(maxsize=8)
def _keyed_mac(secret: bytes) -> hmac.HMAC:
    # Copying a keyed HMAC skips deriving the key pads again for every reference.
    return hmac.new(secret, digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=REKEY_CACHE_SIZE)
def rekey(reference: str, secret: bytes) -> str:
    """Re-key a stored reference with a keyed hash, so stored ids cannot be joined back to the
    source system without the secret: HMAC-SHA256 of its UTF-8 bytes, as hex."""
    mac = _keyed_mac(secret).copy()
    mac.update(reference.encode("utf-8"))
    return mac.hexdigest()


def customer_row_for_storage(record: CustomerFeedback, secret: bytes) -> CustomerFeedback:
    """The customer record as it may be stored: its reference re-keyed."""
    if record.customer_ref is None:
        return record
    # What dataclasses.replace does, without its per-call walk over the fields and keyword
    # matching: once per stored customer row, that was most of the row's cost.
    values = list(_customer_values(record))
    values[_CUSTOMER_REF] = rekey(record.customer_ref, secret)
    return CustomerFeedback(*values)
