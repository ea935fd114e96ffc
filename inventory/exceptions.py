"""Domain errors: a stable machine code, a sentence for people, and structured details.

The API layer renders them as the error envelope with ``http_status``; the admin shows
``message``. Other apps subclass DomainError for their own rules.
"""


class DomainError(Exception):
    code = "domain_error"
    http_status = 409

    def __init__(self, message: str, *, details=None):
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidQuantity(DomainError):
    code = "invalid_quantity"
    http_status = 400


class StockRuleViolation(DomainError):
    """One or more stock operations would break a level's invariants; nothing was written.

    ``details`` lists each violation: ``{"index", "sku", "warehouse", "reason", ...}``.
    """

    code = "stock_rule_violation"
    http_status = 400


class InvalidInput(DomainError):
    """A request whose content is wrong in ways ``details`` spells out; nothing was changed."""

    code = "invalid"
    http_status = 400


class LockContention(DomainError):
    """Every attempt lost a deadlock or serialization race; the caller may simply retry."""

    code = "lock_contention"
    http_status = 503


class InsufficientStock(DomainError):
    """A channel asked for more than it may sell. ``details``: ``[{"sku", "requested", "available"}]``."""

    code = "insufficient_stock"
    http_status = 409

    def __init__(self, shortages: list[dict]):
        skus = ", ".join(f"{s['sku']} (only {s['available']} available, need {s['requested']})" for s in shortages)
        super().__init__(f"Insufficient stock: {skus}.", details=shortages)

    @property
    def skus(self) -> list[str]:
        return [shortage["sku"] for shortage in self.details]
