from celery import shared_task

from connectors import outbox, sync


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
