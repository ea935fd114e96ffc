from celery import shared_task

from reservations import services


@shared_task(ignore_result=True)
def expire_overdue_reservations_task():
    return services.expire_overdue()


@shared_task(ignore_result=True)
def purge_idempotency_keys_task():
    return services.purge_idempotency_keys()
