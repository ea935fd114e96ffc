"""Reads of what partners call our things: the documents our pushes made in systems of record, and the
partner's ids of our variants."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet

from connectors.models import ConnectorAccount, ExternalRef, PartnerDocument
from inventory.models import Variant
from inventory.scoping import visible_to

#: Who sees a sale's documents at its systems of record: those who see the connector accounts.
SEE_DOCUMENTS = "connectors.view_connectoraccount"


def documents_by_partner_id(account: ConnectorAccount, kind: str, partner_ids=None) -> dict[str, str]:
    """Our documents of ``kind`` at ``account`` (of ``partner_ids`` only, if given): partner id -> the dedupe
    key of the message that made it."""
    documents = PartnerDocument.objects.filter(account=account, kind=kind)
    if partner_ids is not None:
        documents = documents.filter(partner_id__in=list(partner_ids))
    return dict(documents.values_list("partner_id", "message__dedupe_key"))


def external_id(account: ConnectorAccount, variant_id: int) -> str | None:
    """The partner's id of a variant at ``account``, as a sync linked it."""
    return (
        ExternalRef.objects.filter(
            account=account, content_type=ContentType.objects.get_for_model(Variant), object_id=variant_id
        )
        .values_list("external_id", flat=True)
        .first()
    )


def pushed_document(account: ConnectorAccount, dedupe_key: str) -> PartnerDocument | None:
    """The document the message ``dedupe_key`` made at ``account`` (not a copy), once it is known."""
    return (
        PartnerDocument.objects.filter(account=account, message__dedupe_key=dedupe_key, duplicate=False)
        .order_by("created_at")
        .first()
    )


def documents_of_sale(reservation, user) -> QuerySet:
    """What a sale (and its returns) became at the systems of record, for ``user``: the documents of the
    accounts they may see, each with its account, in the order they were made."""
    documents = PartnerDocument.objects.filter(reservation=reservation).select_related("account", "message")
    return visible_to(documents, user, SEE_DOCUMENTS).order_by("account__name", "created_at", "id")
