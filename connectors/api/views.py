from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import require_permission
from connectors import sync
from connectors.api.serializers import SyncJobInput, SyncJobOutput
from connectors.models import SyncJob
from inventory.scoping import VisibleQuerysetMixin, is_manageable, is_visible

RUN_SYNC = "connectors.run_sync"


@extend_schema(
    tags=["sync"],
    request=SyncJobInput,
    responses={
        202: OpenApiResponse(SyncJobOutput, description="The job, queued (or the one of that kind already running)"),
        400: OpenApiResponse(
            description="`invalid`: unknown or disabled account (another organization's is unknown), or bad kind"
        ),
        403: OpenApiResponse(
            description="`permission_denied`: needs connectors.run_sync in the account's organization"
        ),
    },
)
class SyncJobCreateView(APIView):
    """Start a full or incremental pull for an account; follow it at /api/v1/sync-jobs/{id}/."""

    permission_classes = [require_permission(RUN_SYNC)]

    def post(self, request):
        payload = SyncJobInput(data=request.data)
        payload.is_valid(raise_exception=True)
        account = payload.validated_data["account"]
        if not is_visible(account, request.user):  # another organization's account does not exist for them
            raise ValidationError({"account": ["Invalid pk - object does not exist."]})
        if not is_manageable(account, request.user, RUN_SYNC):
            raise PermissionDenied("Your role in the organization of this account may not start a sync.")
        job, _ = sync.start_sync(account, payload.validated_data["kind"], started_by=request.user)
        return Response(SyncJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["sync"])
class SyncJobDetailView(VisibleQuerysetMixin, generics.RetrieveAPIView):
    """A sync job's status, progress and counts; another organization's job is 404."""

    serializer_class = SyncJobOutput
    queryset = SyncJob.objects.select_related("account", "started_by")
