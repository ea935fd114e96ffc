"""``manage.py create_api_key <channel-code>``: print a new channel API key alone on the last line."""

from django.core.management.base import BaseCommand, CommandError

from inventory.models import Channel
from reservations import services


class Command(BaseCommand):
    help = "Create an API key for a channel. The key is shown once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("channel_code")
        parser.add_argument("--name", default="", help="Which terminal or store will use it.")

    def handle(self, *args, channel_code, name, **options):
        channel = Channel.objects.filter(code=channel_code).first()
        if channel is None:
            known = ", ".join(Channel.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No channel {channel_code!r}. Channels: {known}.")
        record, key = services.create_api_key(channel=channel, name=name or f"{channel_code} key")
        self.stderr.write(f"API key {record.prefix}… for channel {channel.code}; it will not be shown again:")
        self.stdout.write(key)
