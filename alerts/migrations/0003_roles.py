"""The three staff roles as groups: "Stock clerk", "Manager" and "Administrator".

Staff users (``is_staff=True``) are put in one of these groups; what each group holds is set
here, and running this migration again (or ``install`` directly) puts every group back to
exactly this definition (``permissions.set``), so it is idempotent. Reversing it deletes the
three groups; the permissions themselves stay, as they are Django's.

Permissions are normally created by ``post_migrate`` after the whole plan, too late for a data
migration, so ``install`` first creates the content types and permissions of every app it sees
(Django's ``create_permissions``, with each app config's ``models_module`` set for the call),
and refuses to finish if a permission named below does not exist (a model's permission whose model
a later migration creates is left to that migration, which installs the roles again).

Stock clerk: the stock floor.
    * Catalog, warehouses, channels, channel warehouses and listings (with their state history):
      view only. A clerk never edits a listing, so neither its price nor its exposure rules.
    * Stock levels: view, and ``inventory.adjust_stock``: receive, count, adjust and transfer
      through the stock operations of the admin and ``POST /api/v1/stock/adjustments/``.
    * The movement ledger: view (the admin, ``GET /api/v1/movements/``).
    * Reservations and their lines: view only (no release, which is ``change_reservation``); channel
      activity (reservations 0004): view; returns and oversell incidents (reservations 0005): view.
    * Alerts: view and acknowledge ("someone is on it"), never resolve (issue 7), and no rules.
    * Nothing of connectors (accounts, jobs, conflicts, outbox, webhooks), no exports, no API
      keys, no idempotency records, no users.

Manager: everything the clerk has, plus
    * alerts: resolve, change (the note on an alert), and alert rules (view, add, change; not
      delete: a default rule is switched off with ``enabled``, so the migration's rules stay);
    * sync conflicts: view and ``connectors.resolve_conflict``;
    * connector actions: view accounts and ``connectors.run_sync`` (test connection, sync now,
      reconcile; ``POST /api/v1/sync-jobs/``), view sync jobs and external references, view and
      retry outbound messages (``change_outboundmessage``, which is all the outbox admin allows
      with it), view and replay webhook events (``change_webhookevent``), view channel webhooks.
      Accounts themselves (partner URLs, encrypted credentials) and channel webhooks (their
      signing secrets) are the administrator's;
    * exports: ``inventory.export_data``;
    * listings' exposure rules: ``change_channellisting`` with ``change_exposure_rules`` (buffer,
      allocation, cap, enable switch, and the listing's price); not adding or deleting listings;
    * channel API keys: view, issue (add) and revoke or rename (change); not delete, so a revoked
      key's record stays;
    * for channel support and oversell attempts: view idempotency keys and stock refusals; settle oversell
      incidents (``change_oversellincident``).

Administrator: every permission of inventory, reservations, connectors and alerts, of
django-celery-beat (the schedules), of authtoken (API tokens) and of auth users and groups,
except adding, changing or deleting stock movements: the ledger is append-only for everyone
(the ORM, the admin and a PostgreSQL trigger refuse it as well). Mind that ``change_user``
lets an administrator make any user, themselves included, a superuser: only trusted people
belong in this group.

Users in a group still need ``is_staff`` to open the admin. A later migration that adds models
or permissions must add them to these groups itself.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CLERK = "Stock clerk"
MANAGER = "Manager"
ADMINISTRATOR = "Administrator"
ROLES = (CLERK, MANAGER, ADMINISTRATOR)

#: app label: permission codenames
CLERK_PERMISSIONS = {
    "inventory": [
        "view_organization",
        "view_warehouse",
        "view_category",
        "view_product",
        "view_variant",
        "view_stocklevel",
        "adjust_stock",
        "view_stockmovement",
        "view_channel",
        "view_channelwarehouse",
        "view_channellisting",
        "view_listingstatechange",
    ],
    "reservations": [
        "view_reservation",
        "view_reservationline",
        "view_channelactivity",
        "view_return",
        "view_returnline",
        "view_oversellincident",
    ],
    "alerts": ["view_alert", "acknowledge_alert"],
}

MANAGER_EXTRA_PERMISSIONS = {
    "inventory": ["export_data", "change_channellisting", "change_exposure_rules"],
    "reservations": [
        "view_channelapikey",
        "add_channelapikey",
        "change_channelapikey",
        "view_idempotencykey",
        "view_stockrefusal",
        "change_oversellincident",
    ],
    "connectors": [
        "view_connectoraccount",
        "run_sync",
        "view_syncjob",
        "view_externalref",
        "view_syncconflict",
        "resolve_conflict",
        "view_outboundmessage",
        "change_outboundmessage",
        "view_webhookevent",
        "change_webhookevent",
        "view_channelwebhook",
    ],
    "alerts": ["change_alert", "resolve_alert", "view_alertrule", "add_alertrule", "change_alertrule"],
}

MANAGER_PERMISSIONS = {
    app_label: [*CLERK_PERMISSIONS.get(app_label, []), *MANAGER_EXTRA_PERMISSIONS.get(app_label, [])]
    for app_label in {**CLERK_PERMISSIONS, **MANAGER_EXTRA_PERMISSIONS}
}

#: Every permission of these apps goes to the administrator ...
ADMINISTRATOR_APPS = ("inventory", "reservations", "connectors", "alerts", "django_celery_beat", "authtoken")
#: ... and of these models of other apps (app label, model name) ...
ADMINISTRATOR_MODELS = (("auth", "user"), ("auth", "group"))
#: ... but never these: the ledger is append-only.
NOBODY = {
    ("inventory", "add_stockmovement"),
    ("inventory", "change_stockmovement"),
    ("inventory", "delete_stockmovement"),
}


def ensure_permissions(apps, using):
    """What ``post_migrate`` would do after the plan, done now: content types and permissions of every app."""
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        # A migration's app configs are stubs without a models module, which create_permissions skips.
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, verbosity=0, using=using, apps=apps)
        finally:
            app_config.models_module = models_module


#: Models later migrations create, which install the roles again to grant their permissions.
LATER_MODELS = {
    ("reservations", "channelactivity"),
    ("reservations", "return"),
    ("reservations", "returnline"),
    ("reservations", "oversellincident"),
}


def _later(apps, app_label: str, codename: str) -> bool:
    """A permission of a model a later migration creates (``view_channelactivity``), not there yet."""
    model = codename.partition("_")[2]
    if (app_label, model) not in LATER_MODELS:
        return False
    try:
        apps.get_model(app_label, model)
    except LookupError:
        return True
    return False


def _named(apps, Permission, using, spec):
    wanted = {
        (app_label, codename)
        for app_label, codenames in spec.items()
        for codename in codenames
        if not _later(apps, app_label, codename)
    }
    found = [
        permission
        for permission in Permission.objects.using(using)
        .filter(content_type__app_label__in=spec, codename__in={codename for _, codename in wanted})
        .select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    missing = wanted - {(p.content_type.app_label, p.codename) for p in found}
    if missing or len(found) != len(wanted):
        raise RuntimeError(f"Roles name permissions that do not exist (or are ambiguous): {sorted(missing)}")
    return found


def _administrator(Permission, using):
    permissions = Permission.objects.using(using).select_related("content_type")
    everything = list(permissions.filter(content_type__app_label__in=ADMINISTRATOR_APPS))
    for app_label, model in ADMINISTRATOR_MODELS:
        everything += permissions.filter(content_type__app_label=app_label, content_type__model=model)
    return [p for p in everything if (p.content_type.app_label, p.codename) not in NOBODY]


def install(apps, schema_editor):
    using = schema_editor.connection.alias
    ensure_permissions(apps, using)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    roles = {
        CLERK: _named(apps, Permission, using, CLERK_PERMISSIONS),
        MANAGER: _named(apps, Permission, using, MANAGER_PERMISSIONS),
        ADMINISTRATOR: _administrator(Permission, using),
    }
    for name, permissions in roles.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set(permissions)


def uninstall(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0002_default_rules_and_schedule"),
        ("inventory", "0003_export_permission"),
        ("reservations", "0003_stock_refusals"),
        ("connectors", "0006_channel_webhooks"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
