"""Staff exports of stock levels as CSV or JSON, streamed: thin views over ``inventory.exports``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer

from config.permissions import require_permission
from inventory import exports, selectors
from inventory.api.filters import StockLevelFilter
from inventory.api.serializers import StockLevelOutput
from inventory.scoping import EXPORT_DATA, VisibleQuerysetMixin

_ERROR = OpenApiResponse(description='Error envelope: {"error": {"code", "message", "details"}}')
_ERRORS = {401: _ERROR, 403: _ERROR}

_FILTERS = [
    OpenApiParameter("sku", OpenApiTypes.STR, many=True, description="SKU; repeat for several."),
    OpenApiParameter("warehouse", OpenApiTypes.STR, many=True, description="Warehouse code; repeat for several."),
    OpenApiParameter(
        "below_threshold",
        OpenApiTypes.BOOL,
        description="Only levels at or below (true) or above (false) the variant's low-stock threshold.",
    ),
]

_STOCK_EXPORT = inline_serializer(
    "StockExport",
    {
        "export": serializers.CharField(help_text='Always "stock".'),
        "exported_at": serializers.DateTimeField(),
        "results": StockLevelOutput(many=True),
        "count": serializers.IntegerField(help_text="Rows in results."),
    },
)


class _ErrorsAsJSON(BaseContentNegotiation):
    """The export is the body whatever the client accepts; an error is always the JSON envelope."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _StockExportView(VisibleQuerysetMixin, generics.GenericAPIView):
    permission_classes = [require_permission(EXPORT_DATA)]
    scope_permission = EXPORT_DATA  # the levels of the organizations where the user's role may export
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _ErrorsAsJSON
    filterset_class = StockLevelFilter
    queryset = selectors.stock_levels()
    pagination_class = None
    export_format = ""

    def get(self, request):
        levels = self.filter_queryset(self.get_queryset())
        return exports.export_response("stock", self.export_format, levels)


@extend_schema_view(
    get=extend_schema(
        tags=["stock"],
        operation_id="export_stock_csv",
        parameters=_FILTERS,
        responses={
            (200, "text/csv"): OpenApiResponse(
                response=OpenApiTypes.STR,
                description=(
                    "A header row, then one row per level: " + ",".join(exports.STOCK_COLUMNS) + ". Streamed, all rows."
                ),
            ),
            **_ERRORS,
        },
        description=(
            "Every stock level (filtered) as CSV, ordered by warehouse and SKU, streamed however many there are. "
            "Needs `inventory.export_data`."
        ),
    )
)
class StockExportCSVView(_StockExportView):
    export_format = "csv"


@extend_schema_view(
    get=extend_schema(
        tags=["stock"],
        operation_id="export_stock_json",
        parameters=_FILTERS,
        responses={200: _STOCK_EXPORT, **_ERRORS},
        description=(
            "Every stock level (filtered) as one JSON document, `results` ordered by warehouse and SKU, streamed "
            "however many there are, `count` last. Needs `inventory.export_data`."
        ),
    )
)
class StockExportJSONView(_StockExportView):
    export_format = "json"
