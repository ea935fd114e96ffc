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
