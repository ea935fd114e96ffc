"""What a sale became at its systems of record, on the sale's page in the admin: ``{% partner_documents %}``."""

from django import template

from connectors import selectors

register = template.Library()


@register.inclusion_tag("admin/connectors/partnerdocument/of_sale.html", takes_context=True)
def partner_documents(context, reservation):
    """The sale's (and its returns') documents at each system of record the user's role lets them see."""
    return {"documents": list(selectors.documents_of_sale(reservation, context["request"].user))}
