"""Which connector speaks for an account."""

from connectors.models import ConnectorAccount, Kind


def connector_for(account: ConnectorAccount):
    from connectors.amazon import AmazonConnector
    from connectors.cin7 import Cin7Connector
    from connectors.medusa import MedusaConnector
    from connectors.zoho import ZohoConnector

    connectors = {
        Kind.ZOHO_INVENTORY: ZohoConnector,
        Kind.CIN7_CORE: Cin7Connector,
        Kind.AMAZON_SP_API: AmazonConnector,
        Kind.MEDUSA: MedusaConnector,
    }
    if account.kind not in connectors:
        raise NotImplementedError(f"No connector for {account.get_kind_display()} yet.")
    return connectors[account.kind](account)
