import requests
from celery import shared_task

from alerts import notifications, services
from alerts.models import Alert, Kind


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
    claimed = [alert for alert in map(notifications.claim, alert_ids) if alert is not None]
    notifications.send_emails(claimed)
    for alert in claimed:
        if alert.rule.webhook_url:
            post_alert_webhook_task.delay(alert.pk)


@shared_task(
    ignore_result=True,
    autoretry_for=(requests.RequestException,),
    retry_backoff=10,
    retry_backoff_max=600,
    max_retries=8,
)
def post_alert_webhook_task(alert_id: int):
    alert = Alert.objects.select_related("rule").get(pk=alert_id)
    notifications.post_webhook(alert.rule, {"type": "alert.raised", "alert": notifications.as_event(alert)})


@shared_task(ignore_result=True)
def send_alert_digests_task():
    notifications.send_digests()
