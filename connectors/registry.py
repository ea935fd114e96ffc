"""Which connector speaks for an account, and which sender delivers an outbound message."""

from connectors.models import ConnectorAccount, Kind, OutboundMessage


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


def sender_for(message: OutboundMessage):
    """What delivers ``message``: its account's connector, or the channel webhook's event sender."""
    if message.channel_webhook_id:
        from connectors.channel_events import ChannelEventSender

        return ChannelEventSender(message.channel_webhook)
    return connector_for(message.account)
