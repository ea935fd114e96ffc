"""Who sees partner accounts and what hangs off them (see inventory/scoping.py)."""

from django.db.models import Q

from connectors.models import (
    ChannelWebhook,
    ConnectorAccount,
    ExternalRef,
    OutboundMessage,
    PartnerDocument,
    SnapshotMark,
    SyncConflict,
    SyncJob,
    WebhookEvent,
)
from inventory.scoping import register

register(ConnectorAccount, lambda orgs, user: Q(organization__in=orgs))
for _model in (ExternalRef, SyncJob, SyncConflict, WebhookEvent, SnapshotMark, PartnerDocument):
    register(_model, lambda orgs, user: Q(account__organization__in=orgs))
# A channel's webhook (and its signing secret) is its own organization's only.
register(ChannelWebhook, lambda orgs, user: Q(channel__organization__in=orgs))
register(
    OutboundMessage,
    lambda orgs, user: Q(account__organization__in=orgs) | Q(channel_webhook__channel__organization__in=orgs),
)
