from django.urls import path

from inventory.api import views

urlpatterns = [
    path("stock/", views.StockLevelListView.as_view(), name="stock-list"),
    path("stock/adjustments/", views.StockAdjustmentsView.as_view(), name="stock-adjustments"),
    path("movements/", views.StockMovementListView.as_view(), name="movement-list"),
]
