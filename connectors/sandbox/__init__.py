"""In-memory partner sandboxes that speak the documented contracts of Zoho Inventory, Cin7 Core,
Medusa and Amazon SP-API over real HTTP, with fault injection, rate limits, webhooks and a control
API (see ``base``)."""

from connectors.sandbox.amazon import AmazonSandbox
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

SANDBOXES = {"zoho": ZohoSandbox, "cin7": Cin7Sandbox, "medusa": MedusaSandbox, "amazon": AmazonSandbox}

__all__ = [
    "SANDBOXES",
    "AmazonSandbox",
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
