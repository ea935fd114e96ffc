"""The demo's alert rules tell BMB's manager (on the console, where the demo's mail goes)."""

from alerts.models import AlertRule, Kind

DEMO_MANAGER_EMAIL = "manager@bmb-wholesale.example"


def configure_demo_rules(sender, **kwargs) -> None:
    AlertRule.objects.filter(
        scope=AlertRule.Scope.ALL,
        kind__in=[Kind.OUT_OF_STOCK, Kind.SYNC_FAILED, Kind.CIRCUIT_OPEN, Kind.DEAD_LETTER, Kind.BACK_IN_STOCK],
        email_recipients="",
    ).update(email_recipients=DEMO_MANAGER_EMAIL)
