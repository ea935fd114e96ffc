"""The manager-facing alert API: the list, and acknowledging or resolving one alert."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts import selectors, services
from alerts.api.filters import AlertFilter
from alerts.api.serializers import AlertActionInput, AlertOutput
from config.permissions import require_permission
from inventory.scoping import VisibleQuerysetMixin, is_manageable, visible_to

_ERROR = OpenApiResponse(description='Error envelope: {"error": {"code", "message", "details"}}')


@extend_schema(tags=["alerts"])
class AlertListView(VisibleQuerysetMixin, generics.ListAPIView):
    """Alerts, most recently seen first, filtered by kind, severity, status, SKU, warehouse or channel: those
    about the user's organizations' warehouses, channels (and channels drawing on their stock) and accounts."""

    serializer_class = AlertOutput
    filterset_class = AlertFilter
    queryset = selectors.alert_list()


class _AlertAction(APIView):
    """Acknowledge or resolve one alert, if the user's role allows it in an organization the alert is about."""

    action = None
    permission = ""

    def get_permissions(self):
        return [require_permission(self.permission)()]

    def post(self, request, pk):
        payload = AlertActionInput(data=request.data)
        payload.is_valid(raise_exception=True)
        alert = generics.get_object_or_404(visible_to(selectors.alert_list(), request.user), pk=pk)
        if not is_manageable(alert, request.user, self.permission):
            raise PermissionDenied("Your role in the organization this alert is about does not allow this.")
        alert = type(self).action(alert, user=request.user, note=payload.validated_data["note"])
        return Response(AlertOutput(alert).data)


@extend_schema(
    tags=["alerts"],
    request=AlertActionInput,
    responses={200: AlertOutput, 403: _ERROR, 404: _ERROR, 409: _ERROR},
    description="Someone is on it: an open alert becomes acknowledged (409 `alert_not_active` if resolved). "
    "An alert the user's organizations do not see is 404; one they see, about an organization where "
    "their role may not acknowledge, is 403.",
)
class AlertAcknowledgeView(_AlertAction):
    permission = "alerts.acknowledge_alert"
    action = services.acknowledge_one


@extend_schema(
    tags=["alerts"],
    request=AlertActionInput,
    responses={200: AlertOutput, 403: _ERROR, 404: _ERROR},
    description="Resolve by hand, with an optional note; repeating it changes nothing. "
    "If the condition still holds, the next evaluation raises a new alert. "
    "An alert the user's organizations do not see is 404; one about an organization where their role "
    "may not resolve (a clerk's), 403.",
)
class AlertResolveView(_AlertAction):
    permission = "alerts.resolve_alert"
    action = services.resolve_one
