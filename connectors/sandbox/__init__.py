"""In-memory partner sandboxes that speak Zoho Inventory's, Cin7 Core's and Medusa's documented contracts over
real HTTP, with fault injection, rate limits, webhooks and a control API (see ``base``)."""

from connectors.sandbox.base import (
    Faults,
    ReceivedRequest,
    RequestRecord,
    SandboxServer,
    TokenBucket,
    WebhookDelivery,
    WebhookReceiver,
)
from connectors.sandbox.cin7 import Cin7Sandbox
from connectors.sandbox.medusa import MedusaSandbox
from connectors.sandbox.zoho import ZohoSandbox

SANDBOXES = {"zoho": ZohoSandbox, "cin7": Cin7Sandbox, "medusa": MedusaSandbox}

__all__ = [
    "SANDBOXES",
    "Cin7Sandbox",
    "Faults",
    "MedusaSandbox",
    "ReceivedRequest",
    "RequestRecord",
    "SandboxServer",
    "TokenBucket",
    "WebhookDelivery",
    "WebhookReceiver",
    "ZohoSandbox",
]
