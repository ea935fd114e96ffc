from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self):
        from connectors import (
            channel_events,
            demo,
            outbox,
            publishing,
            scoping,  # noqa: F401 (registers who sees the connectors' rows)
        )
        from inventory import events

        events.movements_booked.connect(outbox.record_movements, dispatch_uid="connectors.outbox")
        events.listings_recomputed.connect(publishing.record_publications, dispatch_uid="connectors.publishing")
        events.listings_recomputed.connect(
            channel_events.record_channel_events, dispatch_uid="connectors.channel_events"
        )
        events.demo_world_loaded.connect(demo.create_demo_accounts, dispatch_uid="connectors.demo")
