from django.urls import path

from reservations.api import views

urlpatterns = [
    path("availability/", views.AvailabilityView.as_view(), name="channel-availability"),
    path("pos/check/", views.PosCheckView.as_view(), name="pos-check"),
    path("pos/sales/", views.PosSaleView.as_view(), name="pos-sales"),
    path("reservations/", views.ReservationCreateView.as_view(), name="reservation-create"),
    path("reservations/<uuid:reservation_id>/", views.ReservationDetailView.as_view(), name="reservation-detail"),
    path(
        "reservations/<uuid:reservation_id>/confirm/",
        views.ReservationConfirmView.as_view(),
        name="reservation-confirm",
    ),
    path(
        "reservations/<uuid:reservation_id>/returns/",
        views.ReservationReturnView.as_view(),
        name="reservation-returns",
    ),
    path(
        "reservations/<uuid:reservation_id>/release/",
        views.ReservationReleaseView.as_view(),
        name="reservation-release",
    ),
]
