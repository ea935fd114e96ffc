from django.urls import path

from connectors.api import views

urlpatterns = [
    path("sync-jobs/", views.SyncJobCreateView.as_view(), name="sync-job-create"),
    path("sync-jobs/<int:pk>/", views.SyncJobDetailView.as_view(), name="sync-job-detail"),
]
