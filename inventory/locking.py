"""The one place stock rows are locked.

Every writer locks StockLevel rows through here: ``SELECT ... FOR UPDATE`` ordered by
primary key and evaluated at once (a lazy locking queryset takes no lock), so any two
transactions take their locks in the same order and cannot deadlock on stock rows.
Callers lock a reservation row, if any, before calling this; never the other way round.
"""

import random
import time
from collections import defaultdict
from collections.abc import Iterable
from functools import reduce, wraps
from operator import or_

from django.db import OperationalError, connection, transaction
from django.db.models import Q

from inventory.exceptions import LockContention
from inventory.models import StockLevel

LevelKey = tuple[int, int]  # (warehouse_id, variant_id)


def lock_stock_levels(keys: Iterable[LevelKey], *, create_missing: bool = False) -> dict[LevelKey, StockLevel]:
    """Lock the levels of ``keys`` and return them freshly read, keyed by (warehouse_id, variant_id).

    With ``create_missing`` absent levels are created at zero first, so that they can be locked.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("lock_stock_levels must run inside a transaction")
    keys = set(keys)
    if not keys:
        return {}
    if create_missing:
        StockLevel.objects.bulk_create(
            [StockLevel(warehouse_id=w, variant_id=v) for w, v in sorted(keys)], ignore_conflicts=True
        )
    by_warehouse = defaultdict(list)
    for warehouse_id, variant_id in keys:
        by_warehouse[warehouse_id].append(variant_id)
    condition = reduce(or_, (Q(warehouse_id=w, variant_id__in=sorted(vs)) for w, vs in sorted(by_warehouse.items())))
    return lock_stock_levels_where(condition)


def lock_stock_levels_where(condition: Q) -> dict[LevelKey, StockLevel]:
    """Lock every level matching ``condition``, in primary-key order."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_stock_levels_where must run inside a transaction")
    rows = list(StockLevel.objects.select_for_update().filter(condition).order_by("pk"))
    return {(row.warehouse_id, row.variant_id): row for row in rows}


#: How often a transaction that lost a deadlock or serialization race is run again.
LOCK_CONFLICT_ATTEMPTS = 4
_RETRYABLE_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def _is_lock_conflict(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _RETRYABLE_SQLSTATES


def stock_transaction(fn):
    """Run ``fn`` in a transaction, again a bounded number of times if it loses a lock conflict.

    Only the outermost call retries (a nested call is already part of someone's transaction, and
    runs in a savepoint so that a refusal undoes its own writes); when every attempt loses,
    LockContention (503, retry later) is raised, never a bare 500.
    """

    @wraps(fn)
    def run(*args, **kwargs):
        if connection.in_atomic_block:
            with transaction.atomic():
                return fn(*args, **kwargs)
        for attempt in range(1, LOCK_CONFLICT_ATTEMPTS + 1):
            try:
                with transaction.atomic():
                    return fn(*args, **kwargs)
            except OperationalError as exc:
                if not _is_lock_conflict(exc):
                    raise
                if attempt == LOCK_CONFLICT_ATTEMPTS:
                    raise LockContention("The stock is busy; please retry.", details={"attempts": attempt}) from exc
                time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 (jitter, not crypto)
        raise AssertionError("unreachable")

    return run
