from django.urls import path

from inventory.api import export_views, views

urlpatterns = [
    path("stock/", views.StockLevelListView.as_view(), name="stock-list"),
    path("stock/adjustments/", views.StockAdjustmentsView.as_view(), name="stock-adjustments"),
    path("movements/", views.StockMovementListView.as_view(), name="movement-list"),
    path("export/stock.csv", export_views.StockExportCSVView.as_view(), name="export-stock-csv"),
    path("export/stock.json", export_views.StockExportJSONView.as_view(), name="export-stock-json"),
]
