"""Errors of the reservation rules, each with its API code and status."""

from inventory.exceptions import DomainError


class ReservationNotFound(DomainError):
    code = "not_found"
    http_status = 404


class ReservationExpired(DomainError):
    code = "reservation_expired"
    http_status = 410


class ReservationNotActive(DomainError):
    """The reservation was released or consumed, so the requested step no longer applies."""

    code = "reservation_not_active"
    http_status = 409


class OrderRefConflict(DomainError):
    """The order reference is taken by a reservation for other items."""

    code = "order_ref_conflict"
    http_status = 409


class SaleIdConflict(DomainError):
    """The POS sale id is taken by another sale (other items, prices or tax) or by a checkout hold."""

    code = "sale_id_conflict"
    http_status = 409


class ReturnExceedsSale(DomainError):
    """More units would come back than the sale sold (over all its returns)."""

    code = "return_exceeds_sale"
    http_status = 409


class ReturnRefConflict(DomainError):
    """The return reference is taken by another return (other sale, items or restocking)."""

    code = "return_ref_conflict"
    http_status = 409


class UnknownSku(DomainError):
    code = "unknown_sku"
    http_status = 400

    def __init__(self, skus: list[str]):
        super().__init__(f"Unknown SKU(s): {', '.join(skus)}.", details={"skus": skus})


class IdempotencyKeyMismatch(DomainError):
    code = "idempotency_key_mismatch"
    http_status = 422


class IdempotencyKeyInFlight(DomainError):
    code = "idempotency_key_in_flight"
    http_status = 409
