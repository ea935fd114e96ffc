from rest_framework import serializers

from connectors.models import ConnectorAccount, SyncJob


class SyncJobInput(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=ConnectorAccount.objects.filter(enabled=True))
    kind = serializers.ChoiceField(choices=[SyncJob.Kind.FULL, SyncJob.Kind.INCREMENTAL])


class SyncJobOutput(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name")
    progress_percent = serializers.IntegerField(allow_null=True)
    started_by = serializers.CharField(source="started_by.get_username", default=None)

    class Meta:
        model = SyncJob
        fields = [
            "id",
            "account",
            "account_name",
            "kind",
            "status",
            "total",
            "processed",
            "progress_percent",
            "created_count",
            "updated_count",
            "unchanged_count",
            "failed_count",
            "errors",
            "started_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
