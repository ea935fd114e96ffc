"""``Authorization: Api-Key <key>`` for channel clients, and their throttle."""

import hmac

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from reservations.models import ChannelApiKey


class ChannelClient:
    """Who is calling: stands in for ``request.user`` on channel endpoints."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key: ChannelApiKey):
        self.api_key = api_key
        self.channel = api_key.channel
        self.pk = f"channel-key-{api_key.pk}"

    def __str__(self):
        return f"{self.channel.code} ({self.api_key.name})"


class ChannelApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header; expected 'Api-Key <key>'.")
        try:
            key = parts[1].decode()
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid API key.") from exc
        prefix = ChannelApiKey.prefix_of(key)
        candidates = ChannelApiKey.objects.usable().select_related("channel")
        record = candidates.filter(prefix=prefix).first() if prefix else None
        if record is None or not hmac.compare_digest(record.key_hash, ChannelApiKey.hash(key)):
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        return ChannelClient(record), record

    def authenticate_header(self, request):
        return f'{self.keyword} realm="stockpool"'


class IsChannelClient(permissions.BasePermission):
    message = "This endpoint needs a channel API key: 'Authorization: Api-Key <key>'."

    def has_permission(self, request, view):
        return isinstance(request.auth, ChannelApiKey)


class ChannelKeyThrottle(throttling.SimpleRateThrottle):
    """Requests per API key at the ``channel`` rate, counted in fixed windows with one atomic increment
    in the shared cache. (DRF's default keeps a timestamp per request of the window, which grows costly
    at the rates a busy POS or storefront sends.)"""

    scope = "channel"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ChannelApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}

    def allow_request(self, request, view):
        key = self.get_cache_key(request, view)
        if key is None or self.rate is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        counter = f"{key}:{window}"
        self.cache.add(counter, 0, timeout=self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # expired between add and incr
            self.cache.set(counter, 1, timeout=self.duration + 1)
            count = 1
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return self._wait


class ChannelApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ChannelApiKeyAuthentication
    name = "ChannelApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A channel API key, sent as `Authorization: Api-Key <key>`.",
        }
