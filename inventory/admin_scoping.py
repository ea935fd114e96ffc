"""The admin's side of ``inventory.scoping``: every ModelAdmin and inline of the project mixes this in.

* changelists, change forms, history and delete pages read through ``get_queryset``, scoped to the
  organizations where the user's role may view the model, so a row of another organization is a 404;
* a change or delete of one row takes the permission in the organization that row belongs to
  (``manageable_by``): a manager at one organization is only a clerk at another;
* admin actions receive only the selected rows the user may act on with the action's permission,
  and say how many they left out;
* foreign-key and many-to-many choices offer only rows the user may change there (``manageable_by``:
  a reseller files no variant under the supplier's product), unless the field is one of
  ``seen_choice_fields`` (a listing names the supplier's variant it sells); that is what raw-id and
  autocomplete fields validate against. Django's autocomplete view reads the related model's admin
  ``get_queryset``, scoped as well;
* related-object list filters offer only values present in the user's rows;
* a section whose rows hang off a model the user's organizations have no row of and may not add
  (``shown_with``: a reseller without warehouses has no stock, no ledger, no partner accounts) is left
  out of the sidebar and the index; its pages answer as before;
* a change page with nothing to save offers no Save buttons.

Superusers see and do what they did before.
"""

import functools

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404
from django.utils.translation import gettext

from inventory.scoping import is_manageable, is_scoped, manageable_by, visible_to

#: Action permissions that read rows rather than change them.
READING_ACTIONS = frozenset({"view", "export"})


class ScopedAdminMixin:
    #: Foreign keys that offer every row the user sees, not only those they may change: references to
    #: another organization's row that are the user's to make (a listing of the supplier's variant).
    seen_choice_fields: tuple[str, ...] = ()
    #: Action permission names that are not ``<name>_<model>`` of this admin's app, e.g.
    #: ``{"export": "inventory.export_data"}``.
    action_permissions: dict[str, str] = {}

    def permission_for(self, name: str) -> str:
        """The full permission an action permission name (``change``, ``export``, ...) stands for."""
        if name in self.action_permissions:
            return self.action_permissions[name]
        return f"{self.opts.app_label}.{get_permission_codename(name, self.opts)}"

    def get_queryset(self, request):
        viewing = (self.permission_for("view"), self.permission_for("change"))
        return visible_to(super().get_queryset(request), request.user, viewing)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return self._scoped_choices(formfield, request, seen=db_field.name in self.seen_choice_fields)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return self._scoped_choices(formfield, request, seen=db_field.name in self.seen_choice_fields)

    def _scoped_choices(self, formfield, request, *, seen=False):
        """Choices among what the user may change (or sees) where their role may write this model."""
        if formfield is not None and getattr(formfield, "queryset", None) is not None:
            writing = (self.permission_for("add"), self.permission_for("change"))
            scope = visible_to if seen else manageable_by
            formfield.queryset = scope(formfield.queryset, request.user, writing)
        return formfield

    # An inline's ``obj`` is its parent: its rows are changed where the parent may be changed with
    # the inline's permission. A ModelAdmin's ``obj`` is the row itself.
    def _may(self, request, name: str, obj) -> bool:
        if obj is None or request.user.is_superuser:
            return True
        memo = request.__dict__.setdefault("_scoping_answers", {})  # a change page asks several times
        key = (self.permission_for(name), type(obj), obj.pk)
        if key not in memo:
            memo[key] = is_manageable(obj, request.user, key[0])
        return memo[key]

    def has_add_permission(self, request, *args, **kwargs):
        obj = args[0] if args else kwargs.get("obj")
        return super().has_add_permission(request, *args, **kwargs) and self._may(request, "add", obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and self._may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and self._may(request, "delete", obj)


class ScopedModelAdminMixin(ScopedAdminMixin):
    """A model without a scoping rule (groups, API tokens, beat schedules) is the platform's: superusers only."""

    #: Fields some of whose values are another organization's (a reseller's price, a supplier's cost):
    #: the list is never filtered by them in the URL, which would tell their values row by row.
    private_lookups: tuple[str, ...] = ()

    def lookup_allowed(self, lookup, value, request=None):
        if request is not None and not request.user.is_superuser and lookup.split("__")[0] in self.private_lookups:
            return False
        return super().lookup_allowed(lookup, value, request)

    def _platform_only(self, request) -> bool:
        return not request.user.is_superuser and not is_scoped(self.model)

    def has_view_permission(self, request, obj=None):
        return not self._platform_only(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args, **kwargs):
        return not self._platform_only(request) and super().has_add_permission(request, *args, **kwargs)

    def has_change_permission(self, request, obj=None):
        return not self._platform_only(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._platform_only(request) and super().has_delete_permission(request, obj)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None and not request.user.is_superuser:
            # A row of the user's organization that their role there may not view is forbidden; any
            # other is not found, so another organization's rows are not even confirmed to exist.
            field = self.model._meta.get_field(from_field) if from_field else self.model._meta.pk
            try:
                theirs = visible_to(self.model, request.user).filter(**{field.name: field.to_python(object_id)})
                forbidden = theirs.exists()
            except (ValidationError, ValueError):
                forbidden = False
            if forbidden:
                raise PermissionDenied
            raise Http404("No such object, or not yours.")
        return obj

    def get_actions(self, request):
        actions = super().get_actions(request)
        if request.user.is_superuser:
            return actions
        return {name: (self._narrowed(func), name, text) for name, (func, name, text) in actions.items()}

    def _narrowed(self, action):
        """``action`` given only the selected rows the user may act on, in their organization, with its permissions."""
        names = getattr(action, "allowed_permissions", None) or ("change",)

        @functools.wraps(action)
        def narrowed(modeladmin, request, queryset):
            allowed = queryset
            for name in names:
                allowed = self.rows_for_action(request, allowed, name)
            left_out = queryset.exclude(pk__in=allowed.values("pk")).count()
            if left_out:
                self.message_user(
                    request,
                    f"{left_out} selected row(s) left out: your role in their organization does not allow this.",
                    messages.WARNING,
                )
            if not allowed.exists():
                return None
            return action(modeladmin, request, allowed)

        return narrowed

    def rows_for_action(self, request, queryset, name: str):
        """The rows of ``queryset`` an action needing the permission ``name`` may touch."""
        scope = visible_to if name in READING_ACTIONS else manageable_by
        return scope(queryset, request.user, self.permission_for(name))

    #: The model this section's rows hang off (stock off warehouses, sync jobs off partner accounts): the
    #: section shows in the sidebar and the index only to those whose organizations have a row of it, or
    #: who may add one. ``None``: it shows wherever the role's permissions allow.
    shown_with: type[models.Model] | None = None

    def has_module_permission(self, request):
        return super().has_module_permission(request) and (
            self.shown_with is None or self._may_have_rows_of(request, self.shown_with)
        )

    def _may_have_rows_of(self, request, model) -> bool:
        if request.user.is_superuser:
            return True
        memo = request.__dict__.setdefault("_sections_shown_with", {})  # the sidebar and the index both ask
        if model not in memo:
            owner_admin = self.admin_site._registry.get(model)
            memo[model] = visible_to(model, request.user).exists() or bool(
                owner_admin and owner_admin.has_add_permission(request)
            )
        return memo[model]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if change and not _anything_to_save(context):
            context.update(
                title=gettext("View %s") % self.opts.verbose_name,
                show_save=False,
                show_save_and_continue=False,
                show_save_and_add_another=False,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_list_filter(self, request):
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [self._related_only(entry) for entry in filters]

    def _related_only(self, entry):
        """A plain related-field filter lists every row of the related model: offer only those in use."""
        if not isinstance(entry, str):
            return entry
        try:
            field = self.model._meta.get_field(entry)
        except Exception:
            return entry
        if isinstance(field, models.ForeignKey | models.ManyToManyField | models.OneToOneField):
            return (entry, admin.RelatedOnlyFieldListFilter)
        return entry


def _anything_to_save(context) -> bool:
    """Whether a change page has a field to edit, or an inline row to add, change or delete."""
    if context["adminform"].form.fields:
        return True
    return any(
        inline.has_add_permission
        or inline.formset.can_delete
        or (inline.has_change_permission and inline.formset.form.base_fields)
        for inline in context["inline_admin_formsets"]
    )


class ScopedModelAdmin(ScopedModelAdminMixin, admin.ModelAdmin):
    pass


class ReadOnlyModelAdmin(ScopedModelAdmin):
    """Rows to look at: the services make them (the ledger, stock levels, the outbox, figures), never a form."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScopedTabularInline(ScopedAdminMixin, admin.TabularInline):
    pass


class ScopedStackedInline(ScopedAdminMixin, admin.StackedInline):
    pass


def scope_every_admin(site=admin.site) -> None:
    """Give the ModelAdmins registered by other apps (authtoken, django-celery-beat) the same scoping.

    Called once every admin module is loaded (``InventoryConfig.ready``, after the admin's autodiscover).
    Their models have no rule of their own, so they show to superusers only.
    Inlines of those admins are left as they are.
    """
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if not isinstance(model_admin, ScopedAdminMixin):
            model_admin.__class__ = type(f"Scoped{cls.__name__}", (ScopedModelAdminMixin, cls), {})
