import requests
from celery import shared_task

from alerts import notifications, services
from alerts.models import Kind


@shared_task(ignore_result=True)
def evaluate_alerts_task():
    services.evaluate()


@shared_task(ignore_result=True)
def evaluate_stock_alerts_task(variant_ids: list[int]):
    services.evaluate(variant_ids=variant_ids)


@shared_task(ignore_result=True)
def evaluate_ledger_alerts_task():
    services.evaluate([Kind.LEDGER_MISMATCH])


@shared_task(ignore_result=True)
def notify_alerts_task(alert_ids: list[int]):
    """Each rule to tell gets one email with its alerts and a webhook call per alert."""
    for rule, alerts in notifications.claim(alert_ids).items():
        notifications.send_email(rule, alerts)
        if rule.webhook_url:
            for alert in alerts:
                post_alert_webhook_task.delay(alert.pk, rule.pk)


@shared_task(
    ignore_result=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def post_alert_webhook_task(alert_id: int, rule_id: int):
    notifications.post_raised(alert_id, rule_id)


@shared_task(ignore_result=True)
def send_alert_digests_task():
    notifications.send_digests()
