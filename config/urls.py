from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config.health import health
from connectors.webhooks import receive as receive_webhook

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("webhooks/<int:account_id>/", receive_webhook, name="webhook"),
    path("api/v1/", include("inventory.api.urls")),
    path("api/v1/", include("reservations.api.urls")),
    path("api/v1/", include("connectors.api.urls")),
    path("api/v1/", include("alerts.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
