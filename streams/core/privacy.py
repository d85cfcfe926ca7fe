"""Privacy rules that touch records on their way to storage (k-anonymity lives in metrics)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from schemas.records import CustomerFeedback


def rekey(reference: str, secret: bytes) -> str:
    """Re-key a stored reference with a keyed hash, so stored ids cannot be joined back to the
    source system without the secret."""
    return hmac.new(secret, reference.encode("utf-8"), hashlib.sha256).hexdigest()


def customer_row_for_storage(record: CustomerFeedback, secret: bytes) -> CustomerFeedback:
    """The customer record as it may be stored: its reference re-keyed."""
    if record.customer_ref is None:
        return record
    return dataclasses.replace(record, customer_ref=rekey(record.customer_ref, secret))
