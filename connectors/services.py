"""Writes on connector accounts: saving with their schedules, testing, resolving conflicts."""

import json
import secrets

from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from connectors import publishing
from connectors.http import PartnerError
from connectors.models import ChannelWebhook, ConnectorAccount, SyncConflict, SyncJob
from inventory.models import ChannelListing, Variant


@transaction.atomic
def save_account(account: ConnectorAccount, *, credentials: dict | None = None, webhook_secret: str | None = None):
    """Validate and save an account; given credentials are merged (blank values keep the stored ones)."""
    if credentials:
        account.credentials = {**account.credentials, **{k: v for k, v in credentials.items() if v}}
    if webhook_secret:
        account.webhook_secret = webhook_secret
    account.full_clean()
    account.save()
    schedule_syncs(account)
    return account


def schedule_syncs(account: ConnectorAccount) -> None:
    """The account's periodic syncs as django-celery-beat rows: incremental every N minutes, full nightly."""
    args = json.dumps([account.pk, SyncJob.Kind.INCREMENTAL])
    name = f"Incremental sync of connector account {account.pk}"
    if account.enabled and account.incremental_sync_minutes:
        every, _ = IntervalSchedule.objects.get_or_create(
            every=account.incremental_sync_minutes, period=IntervalSchedule.MINUTES
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={"task": "connectors.tasks.start_sync_task", "interval": every, "args": args, "enabled": True},
        )
    else:
        PeriodicTask.objects.filter(name=name).delete()
    name = f"Full sync of connector account {account.pk}"
    if account.enabled and account.full_sync_hour is not None:
        nightly, _ = CrontabSchedule.objects.get_or_create(
            minute="0",
            hour=str(account.full_sync_hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone="UTC",
        )
        PeriodicTask.objects.update_or_create(
            name=name,
            defaults={
                "task": "connectors.tasks.start_sync_task",
                "crontab": nightly,
                "args": json.dumps([account.pk, SyncJob.Kind.FULL]),
                "enabled": True,
            },
        )
    else:
        PeriodicTask.objects.filter(name=name).delete()


def test_connection(account: ConnectorAccount) -> tuple[bool, str]:
    """Call the partner once; the answer is recorded on the account's health."""
    from connectors.registry import connector_for

    try:
        message = connector_for(account).test_connection()
    except PartnerError as error:
        ConnectorAccount.objects.filter(pk=account.pk).update(last_failure_at=timezone.now(), last_error=str(error))
        return False, str(error)
    ConnectorAccount.objects.filter(pk=account.pk).update(last_error="")
    return True, message


@transaction.atomic
def resolve_conflict(conflict: SyncConflict, *, take_partner_value: bool, user) -> None:
    """A manager's decision: the partner's value, or ours. A partner's price is written to the variant."""
    conflict = SyncConflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status == SyncConflict.Status.RESOLVED:
        return
    if take_partner_value and conflict.field == SyncConflict.Field.PRICE:
        Variant.objects.filter(pk=conflict.variant_id).update(price=conflict.remote_value, updated_at=timezone.now())
    if not take_partner_value and conflict.field == SyncConflict.Field.QUANTITY and conflict.account.channel_id:
        listing = ChannelListing.objects.filter(channel_id=conflict.account.channel_id, variant_id=conflict.variant_id)
        for listing_id in listing.values_list("pk", flat=True):
            publishing.republish(conflict.account, listing_id)
    conflict.status = SyncConflict.Status.RESOLVED
    conflict.resolution = "took the partner's value" if take_partner_value else "kept ours"
    conflict.resolved_by = user
    conflict.resolved_at = timezone.now()
    conflict.save()


@transaction.atomic
def save_channel_webhook(webhook: ChannelWebhook) -> str | None:
    """Validate and save a channel webhook; a new one gets a signing secret, returned this once."""
    created = webhook.pk is None
    if created:
        webhook.secret = _new_webhook_secret()
    webhook.full_clean()
    webhook.save()
    return webhook.secret if created else None


@transaction.atomic
def rotate_channel_webhook_secret(webhook: ChannelWebhook) -> str:
    """A new signing secret, effective for the next delivery; returned this once."""
    webhook.secret = _new_webhook_secret()
    ChannelWebhook.objects.filter(pk=webhook.pk).update(secret_encrypted=webhook.secret_encrypted)
    return webhook.secret


def _new_webhook_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"
