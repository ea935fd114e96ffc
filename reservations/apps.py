from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self):
        from reservations.api import authentication  # noqa: F401 (registers the OpenAPI security scheme)
