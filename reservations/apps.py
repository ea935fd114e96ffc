from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self):
        from reservations import scoping  # noqa: F401 (registers who sees reservations)
        from reservations.api import authentication  # noqa: F401 (registers the OpenAPI security scheme)
