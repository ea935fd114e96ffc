"""``config.wsgi.application`` with ``bench.urls`` as its URL root: the app plus ``/bench/ping/``.

gunicorn serves this module in bench/availability.py, so that the availability endpoint and
the trivial endpoint it is compared with run in the same server processes, with the same
settings and middleware. Nothing else changes: the app's own URL root stays config/urls.py.
"""

import os

from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
settings.ROOT_URLCONF = "bench.urls"  # read per request by Django's handler; set before the app loads

from config.wsgi import application  # noqa: E402 (the URL root must be set first)

__all__ = ["application"]
