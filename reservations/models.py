"""Reservations, their lines and idempotency keys (the reservations issue builds them here)."""
