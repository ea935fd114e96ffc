"""The channel API: what POS terminals and storefronts call with their channel's API key."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from inventory.exceptions import InvalidInput
from inventory.selectors import channel_availability, variants_for_channel
from reservations import idempotency, services
from reservations.api.authentication import ChannelApiKeyAuthentication, ChannelKeyThrottle, IsChannelClient
from reservations.api.serializers import (
    MAX_AVAILABILITY_SKUS,
    AvailabilityOutput,
    PosCheckInput,
    PosCheckOutput,
    PosSaleInput,
    ReleaseInput,
    ReservationInput,
    ReservationOutput,
    ReturnInput,
    ReturnOutput,
)
from reservations.exceptions import UnknownSku
from reservations.selectors import reservation_for_channel, return_for_channel


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(description=f'{description}. Body: {{"error": {{"code", "message", "details"}}}}')


UNAUTHORIZED = _error("`not_authenticated` or `authentication_failed`: missing or bad API key")
THROTTLED = _error("`throttled`: too many requests for this key")
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Repeat-safe retries: the same key and body replay the first response (header "
    "`Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_mismatch`; "
    "a key still in flight is 409 `idempotency_key_in_flight`. Kept at least 24 h.",
)
NOT_FOUND = _error("`not_found`: no such reservation on this channel")
#: What a call that holds stock may answer besides its success and its 400.
HOLDING_ERRORS = {
    401: UNAUTHORIZED,
    409: _error(
        "`insufficient_stock` (details: sku, requested, available per short SKU), "
        "`order_ref_conflict` or `idempotency_key_in_flight`"
    ),
    422: _error("`idempotency_key_mismatch`"),
    429: THROTTLED,
    503: _error("`lock_contention`: retry"),
}


class _Replayed(Exception):
    def __init__(self, replay: idempotency.Replay):
        self.replay = replay


class ChannelAPIView(APIView):
    """A view for channel clients: API-key auth, per-key throttle, and Idempotency-Key on POST."""

    authentication_classes = [ChannelApiKeyAuthentication]
    permission_classes = [IsChannelClient]
    throttle_classes = [ChannelKeyThrottle]
    _claim = None

    @property
    def channel(self):
        return self.request.auth.channel

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or key is None:
            return
        if not 0 < len(key) <= idempotency.MAX_KEY_LENGTH:
            raise InvalidInput(f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} characters.")
        outcome = idempotency.claim(
            self.channel, key, idempotency.fingerprint(request.method, request.path, request.data)
        )
        if isinstance(outcome, idempotency.Replay):
            raise _Replayed(outcome)
        self._claim = outcome

    def handle_exception(self, exc):
        if isinstance(exc, _Replayed):
            return Response(exc.replay.body, status=exc.replay.status, headers={"Idempotent-Replayed": "true"})
        try:
            return super().handle_exception(exc)
        except Exception:
            self._settle_claim(None)
            raise

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self._settle_claim(response)
        return response

    def _settle_claim(self, response):
        """Store the response for replays, or forget the claim if the request failed on our side."""
        claim, self._claim = self._claim, None
        if claim is None:
            return
        if response is None or response.status_code >= 500:
            idempotency.abandon(claim)
        else:
            idempotency.complete(claim, response.status_code, response.data)


def _known_variants(channel, skus: list[str]) -> dict:
    variants = variants_for_channel(channel, skus)
    unknown = sorted({sku for sku in skus if sku not in variants})
    if unknown:
        raise UnknownSku(unknown)
    return variants


def _line_requests(channel, items: list[dict]) -> list[services.LineRequest]:
    variants = _known_variants(channel, [item["sku"] for item in items])
    return [
        services.LineRequest(
            variant=variants[item["sku"]],
            quantity=item["quantity"],
            unit_price=item.get("price"),
            tax=item.get("tax"),
        )
        for item in items
    ]


def _reservation_response(channel, reservation_id, status_code=status.HTTP_200_OK) -> Response:
    reservation = reservation_for_channel(channel, reservation_id)
    return Response(ReservationOutput(reservation).data, status=status_code)


@extend_schema(
    tags=["channel"],
    parameters=[
        OpenApiParameter("sku", OpenApiTypes.STR, many=True, required=True, description="Repeat for several SKUs.")
    ],
    responses={200: AvailabilityOutput, 400: _error("`invalid`: no SKU, or too many"), 401: UNAUTHORIZED},
)
class AvailabilityView(ChannelAPIView):
    """What this channel may sell of each SKU now; SKUs unknown to its organization (another organization's
    among them) are listed apart."""

    def get(self, request):
        skus = [sku for sku in request.query_params.getlist("sku") if sku]
        if not 0 < len(skus) <= MAX_AVAILABILITY_SKUS:
            raise InvalidInput(f"Give 1 to {MAX_AVAILABILITY_SKUS} SKUs as ?sku=A&sku=B.")
        result = channel_availability(self.channel, skus)
        body = {"channel": self.channel.code, "items": result.items, "unknown_skus": result.unknown_skus}
        return Response(AvailabilityOutput(body).data)


@extend_schema(
    tags=["channel"],
    request=PosCheckInput,
    responses={
        200: PosCheckOutput,
        400: _error("`invalid` or `unknown_sku`"),
        401: UNAUTHORIZED,
        429: THROTTLED,
    },
)
class PosCheckView(ChannelAPIView):
    """Can this terminal sell ``quantity`` of ``sku`` right now? Reads only; holds nothing."""

    def post(self, request):
        payload = PosCheckInput(data=request.data)
        payload.is_valid(raise_exception=True)
        sku, requested = payload.validated_data["sku"], payload.validated_data["quantity"]
        result = channel_availability(self.channel, [sku])
        if result.unknown_skus:
            raise UnknownSku(result.unknown_skus)
        item = result.items[0]
        can_sell = item.sellable and (item.available is None or item.available >= requested)
        if not item.listed:
            message = f"{sku} is not sold on this channel"
        elif can_sell:
            message = "In stock"
        else:
            message = f"Insufficient stock (only {item.available} available, need {requested})"
        body = {
            "sku": sku,
            "requested": requested,
            "available": can_sell,
            "current_stock": item.available,
            "message": message,
        }
        return Response(PosCheckOutput(body).data)


@extend_schema(
    tags=["channel"],
    request=PosSaleInput,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        201: ReservationOutput,
        200: OpenApiResponse(
            ReservationOutput, description="A repeat of a known sale_id (same items, prices and tax): the first sale"
        ),
        400: _error("`invalid` or `unknown_sku`"),
        **HOLDING_ERRORS,
        409: _error(
            "`insufficient_stock` (details: sku, requested, available per short SKU), `sale_id_conflict` (the "
            "sale_id is taken by a sale of other items, prices or tax, or by a checkout hold; nothing changed) or "
            "`idempotency_key_in_flight`"
        ),
    },
)
class PosSaleView(ChannelAPIView):
    """Record a sale made at the terminal: reserve and confirm at once, exactly once per ``sale_id``."""

    def post(self, request):
        payload = PosSaleInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        reservation, created = services.record_pos_sale(
            channel=self.channel,
            sale_id=data["sale_id"],
            lines=_line_requests(self.channel, data["items"]),
            invoice_number=data["invoice_number"],
            customer_name=data["customer_name"],
        )
        return _reservation_response(
            self.channel, reservation.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(
    tags=["channel"],
    request=ReservationInput,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        201: ReservationOutput,
        200: OpenApiResponse(ReservationOutput, description="A repeat of a known order_ref with the same items"),
        400: _error("`invalid` (zero, negative, non-integer or huge quantities; bad ttl) or `unknown_sku`"),
        **HOLDING_ERRORS,
    },
)
class ReservationCreateView(ChannelAPIView):
    """Hold stock for a checkout, all or nothing, until confirmed, released or expired."""

    def post(self, request):
        payload = ReservationInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        reservation, created = services.reserve(
            channel=self.channel,
            order_ref=data["order_ref"],
            lines=_line_requests(self.channel, data["items"]),
            ttl_seconds=data.get("ttl_seconds"),
        )
        return _reservation_response(
            self.channel, reservation.pk, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


@extend_schema(tags=["channel"], responses={200: ReservationOutput, 401: UNAUTHORIZED, 404: NOT_FOUND})
class ReservationDetailView(ChannelAPIView):
    """One of this channel's reservations."""

    def get(self, request, reservation_id):
        return _reservation_response(self.channel, reservation_id)


@extend_schema(
    tags=["channel"],
    request=None,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        200: ReservationOutput,
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        409: _error("`reservation_not_active`: it was released"),
        410: _error("`reservation_expired`: too late; its stock went back to the pool"),
        503: _error("`lock_contention`: retry"),
    },
)
class ReservationConfirmView(ChannelAPIView):
    """Payment succeeded: the held units are sold. Confirming twice is harmless."""

    def post(self, request, reservation_id):
        services.confirm(channel=self.channel, reservation_id=reservation_id)
        return _reservation_response(self.channel, reservation_id)


@extend_schema(
    tags=["channel"],
    request=ReleaseInput,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        200: ReservationOutput,
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        409: _error("`reservation_not_active`: it was already confirmed"),
        503: _error("`lock_contention`: retry"),
    },
)
class ReservationReleaseView(ChannelAPIView):
    """Payment failed or the cart was abandoned: give the stock back. Repeating it is harmless."""

    def post(self, request, reservation_id):
        payload = ReleaseInput(data=request.data)
        payload.is_valid(raise_exception=True)
        services.release(channel=self.channel, reservation_id=reservation_id, reason=payload.validated_data["reason"])
        return _reservation_response(self.channel, reservation_id)


@extend_schema(
    tags=["channel"],
    request=ReturnInput,
    parameters=[IDEMPOTENCY_KEY],
    responses={
        201: ReturnOutput,
        200: OpenApiResponse(ReturnOutput, description="A repeat of a known return_ref (same sale and items)"),
        400: _error("`invalid` or `unknown_sku`"),
        401: UNAUTHORIZED,
        404: NOT_FOUND,
        409: _error(
            "`return_exceeds_sale` (details: sku, requested, returnable per SKU, over all returns of the sale), "
            "`return_ref_conflict`, `reservation_not_active` (not a confirmed sale) or `idempotency_key_in_flight`"
        ),
        422: _error("`idempotency_key_mismatch`"),
        429: THROTTLED,
        503: _error("`lock_contention`: retry"),
    },
)
class ReservationReturnView(ChannelAPIView):
    """Units of a confirmed sale (a POS sale included) come back: a refund at the till, a parcel returned.
    Restocked units go back to the warehouse each was sold from; a warehouse mirrored from a system of record
    hears of it through the outbox."""

    def post(self, request, reservation_id):
        payload = ReturnInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        variants = _known_variants(self.channel, [item["sku"] for item in data["items"]])
        sale_return, created = services.record_return(
            channel=self.channel,
            reservation_id=reservation_id,
            return_ref=data["return_ref"],
            lines=[services.ReturnRequest(variants[item["sku"]], item["quantity"]) for item in data["items"]],
            restock=data["restock"],
            reason=data["reason"],
        )
        return Response(
            ReturnOutput(return_for_channel(self.channel, sale_return.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
