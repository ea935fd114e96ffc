"""The app's URLs plus one trivial DRF endpoint, for bench/availability.py's comparison only.

Served by ``bench/wsgi_with_trivial.py``; the app's own URL root (config/urls.py) never has it.
"""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class PingView(APIView):
    """As little as DRF does for a request: no authentication, permission or throttle."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [
    path("bench/ping/", PingView.as_view(), name="bench-ping"),
    path("", include("config.urls")),
]
