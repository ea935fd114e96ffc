"""Partner accounts, sync jobs, webhooks and the outbox (the connectors issues build them here)."""
