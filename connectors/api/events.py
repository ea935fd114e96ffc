"""The channel events we POST to a channel's registered URL, described for the API docs (OpenAPI ``webhooks``)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, OpenApiWebhook, extend_schema
from rest_framework import serializers

from connectors.models import ChannelWebhook
from connectors.signing import HEADER, TOLERANCE_SECONDS

RECEIVING = f"""
Registered per channel in the admin (Connectors → Channel webhooks), with the event types wanted;
the signing secret is shown once when the URL is registered or its secret rotated.

Each event is a POST of JSON. **Verify it before acting on it**: the `{HEADER}` header is
`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed with the secret; compute the
HMAC over the raw bytes received, compare in constant time, and refuse a `t` more than
{TOLERANCE_SECONDS} s from your clock.

Answer any 2xx within 10 s. Anything else (or no answer) is retried with exponential backoff
for about a day, then kept for a manager to send again: delivery is at least once, so use the
event `id` to ignore a repeat. Events about one SKU are coalesced: if several changes happen
before one is delivered, only the latest state is sent. Every event carries the SKU's whole
state and `created`; keep the newest per SKU and you never depend on the order of arrival.
"""


class ChannelEventDataSerializer(serializers.Serializer):
    sku = serializers.CharField()
    available = serializers.IntegerField(
        allow_null=True, help_text="Units this channel may sell now; null for an untracked item without a cap."
    )
    sellable = serializers.BooleanField(help_text="False once the channel may sell none: grey the item out.")


class ChannelEventSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Unique per event: `evt_` and 32 hex digits. Deduplicate on it.")
    type = serializers.ChoiceField(choices=ChannelWebhook.Event.values)
    created = serializers.DateTimeField(help_text="When the state was computed (UTC).")
    channel = serializers.CharField(help_text="The channel's code.")
    data = ChannelEventDataSerializer()


HEADERS = [
    OpenApiParameter(HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=True, description="The signature."),
    OpenApiParameter("Stockpool-Event-Id", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
    OpenApiParameter("Stockpool-Event-Type", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True),
]


def _webhook(event: ChannelWebhook.Event, summary: str) -> OpenApiWebhook:
    return OpenApiWebhook(
        name=event.value,
        decorator=extend_schema(
            summary=summary,
            description=RECEIVING,
            parameters=HEADERS,
            request=ChannelEventSerializer,
            responses={200: OpenApiResponse(description="Any 2xx: received.")},
        ),
    )


stock_changed = _webhook(ChannelWebhook.Event.STOCK_CHANGED, "A SKU's availability on the channel changed")
listing_disabled = _webhook(ChannelWebhook.Event.LISTING_DISABLED, "A SKU sold out on the channel")
listing_enabled = _webhook(ChannelWebhook.Event.LISTING_ENABLED, "A SKU can be sold on the channel again")
