from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self):
        from connectors import outbox
        from inventory import events

        events.movements_booked.connect(outbox.record_movements, dispatch_uid="connectors.outbox")
