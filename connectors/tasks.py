from celery import shared_task

from connectors import outbox, sync, webhooks
from connectors.http import PartnerError


@shared_task(ignore_result=True)
def run_sync_job_task(job_id: int):
    sync.run_sync_job(job_id)


@shared_task(ignore_result=True)
def start_sync_task(account_id: int, kind: str):
    from connectors.models import ConnectorAccount

    account = ConnectorAccount.objects.filter(pk=account_id, enabled=True).first()
    if account is not None:
        sync.start_sync(account, kind)


@shared_task(ignore_result=True)
def resume_stalled_sync_jobs_task():
    for job_id in sync.stalled_jobs().values_list("pk", flat=True):
        run_sync_job_task.delay(job_id)


@shared_task(ignore_result=True)
def deliver_outbox_task():
    return outbox.deliver_due()


@shared_task(
    bind=True, ignore_result=True, autoretry_for=(PartnerError,), retry_backoff=5, retry_backoff_max=300, max_retries=6
)
def process_webhook_task(self, event_pk: int):
    webhooks.process_event(event_pk)


@shared_task(ignore_result=True)
def process_unqueued_webhooks_task():
    for event_pk in webhooks.unqueued_events().values_list("pk", flat=True)[:1000]:
        process_webhook_task.delay(event_pk)


@shared_task(ignore_result=True)
def reconcile_task(account_ids: list[int] | None = None):
    from connectors.models import ConnectorAccount
    from connectors.reconcile import reconcile

    accounts = ConnectorAccount.objects.filter(enabled=True)
    reconcile(accounts=accounts.filter(pk__in=account_ids) if account_ids else accounts)


@shared_task(ignore_result=True)
def pull_amazon_orders_task():
    from connectors.amazon_orders import pull_due_accounts

    pull_due_accounts()
