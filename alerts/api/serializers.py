from rest_framework import serializers

from alerts.models import Alert


class AlertOutput(serializers.ModelSerializer):
    acknowledged_by = serializers.StringRelatedField()
    resolved_by = serializers.StringRelatedField()
    sku = serializers.CharField(source="variant.sku", default=None)
    warehouse = serializers.CharField(source="warehouse.code", default=None)
    channel = serializers.CharField(source="channel.code", default=None)
    account = serializers.CharField(source="account.name", default=None)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "severity",
            "status",
            "subject",
            "subject_label",
            "sku",
            "warehouse",
            "channel",
            "account",
            "message",
            "context",
            "count",
            "first_seen",
            "last_seen",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "note",
        ]


class AlertActionInput(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
