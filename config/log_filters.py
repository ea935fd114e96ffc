"""Filters of the project's logging configuration (``settings.LOGGING``)."""

import logging

from django.core.exceptions import PermissionDenied


class PermissionDeniedWithoutTraceback(logging.Filter):
    """A request refused with ``PermissionDenied`` (a page beyond the user's role in the admin) is expected,
    not a fault: Django's warning line says enough, so the traceback it attaches is dropped. Every other
    record passes unchanged, a server error's traceback included."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = record.exc_text = None
        return True
