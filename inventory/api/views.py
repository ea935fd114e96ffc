"""Staff endpoints for stock: thin views over inventory selectors and services."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import require_permission
from inventory import selectors, services
from inventory.api.filters import StockLevelFilter, StockMovementFilter
from inventory.api.serializers import (
    AdjustmentsInput,
    AdjustmentsOutput,
    StockLevelOutput,
    StockMovementOutput,
)
from inventory.exceptions import InvalidInput
from inventory.models import StockMovement
from inventory.scoping import VisibleQuerysetMixin

_ERROR = OpenApiResponse(description='Error envelope: {"error": {"code", "message", "details"}}')


@extend_schema(tags=["stock"])
class StockLevelListView(VisibleQuerysetMixin, generics.ListAPIView):
    """Stock levels per warehouse and SKU, with what is available (on hand less reserved): those of the
    warehouses of the user's organizations where their role may view stock."""

    serializer_class = StockLevelOutput
    filterset_class = StockLevelFilter
    queryset = selectors.stock_levels()


@extend_schema(tags=["stock"])
class StockMovementListView(VisibleQuerysetMixin, generics.ListAPIView):
    """The ledger: every change of on_hand, newest first, at the warehouses of the user's organizations."""

    serializer_class = StockMovementOutput
    filterset_class = StockMovementFilter
    queryset = selectors.stock_movements()


@extend_schema(
    tags=["stock"],
    request=AdjustmentsInput,
    responses={201: AdjustmentsOutput, 400: _ERROR, 401: _ERROR, 403: _ERROR},
    description=(
        "Apply stock adjustments all or nothing. Each row gives a signed `delta` or a counted `set_on_hand`. "
        "Any bad row (unknown SKU or warehouse, bad quantity, a level left below its reserved units) "
        "refuses the whole request with 400, listing every bad row by `index`. A warehouse of another "
        "organization, or of one where the user's role may not adjust stock, is an unknown warehouse."
    ),
)
class StockAdjustmentsView(APIView):
    permission_classes = [require_permission("inventory.adjust_stock")]

    def post(self, request):
        payload = AdjustmentsInput(data=request.data, context={"user": request.user})
        if not payload.is_valid():
            errors = payload.errors_by_row
            if not isinstance(errors, list):
                raise ValidationError(errors)
            raise InvalidInput(f"{len(errors)} adjustment row(s) are not valid; nothing was changed.", details=errors)
        changes = [
            services.StockChange(
                warehouse=row["warehouse"],
                variant=row["variant"],
                reason=row["reason"],
                delta=row.get("delta"),
                set_on_hand=row.get("set_on_hand"),
                reference=row["reference"],
                note=row["note"],
            )
            for row in payload.validated_data["adjustments"]
        ]
        movements = services.apply_stock_changes(changes, source=StockMovement.Source.API, actor=request.user)
        body = {"operation_id": movements[0].operation_id if movements else None, "movements": movements}
        return Response(AdjustmentsOutput(body).data, status=status.HTTP_201_CREATED)
