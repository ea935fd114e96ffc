"""Alert rules and alerts (the alerts issue builds them here)."""
