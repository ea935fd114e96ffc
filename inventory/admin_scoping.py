"""The admin's side of ``inventory.scoping``: every ModelAdmin and inline of the project mixes this in.

* changelists, change forms, history and delete pages read through ``get_queryset``, scoped, so
  a row of another organization is a 404 and admin actions only ever receive visible rows;
* foreign-key and many-to-many choices are scoped, which is what raw-id and autocomplete
  fields validate against; Django's autocomplete view reads the related model's admin
  ``get_queryset``, scoped as well;
* related-object list filters offer only values present in the user's rows.

Superusers see what they saw before.
"""

from django.contrib import admin
from django.db import models
from django.http import Http404

from inventory.scoping import is_scoped, owned_by, visible_to


def _scoped_choices(formfield, request, *, owned=False):
    if formfield is not None and getattr(formfield, "queryset", None) is not None:
        formfield.queryset = visible_to(formfield.queryset, request.user)
        if owned:
            formfield.queryset = owned_by(formfield.queryset, request.user)
    return formfield


class ScopedAdminMixin:
    #: Foreign keys that only offer rows of the user's own organizations (``owned_by``), not all they see.
    owned_choice_fields: tuple[str, ...] = ()

    def get_queryset(self, request):
        return visible_to(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        owned = db_field.name in self.owned_choice_fields
        return _scoped_choices(super().formfield_for_foreignkey(db_field, request, **kwargs), request, owned=owned)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        return _scoped_choices(super().formfield_for_manytomany(db_field, request, **kwargs), request)


class ScopedModelAdminMixin(ScopedAdminMixin):
    """A model without a scoping rule (groups, API tokens, beat schedules) is the platform's: superusers only."""

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
            raise Http404("No such object, or not yours.")
        return obj

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


class ScopedModelAdmin(ScopedModelAdminMixin, admin.ModelAdmin):
    pass


class ScopedTabularInline(ScopedAdminMixin, admin.TabularInline):
    pass


class ScopedStackedInline(ScopedAdminMixin, admin.StackedInline):
    pass


def scope_every_admin(site=admin.site) -> None:
    """Give the ModelAdmins registered by other apps (auth, authtoken, django-celery-beat) the same scoping.

    Called once every admin module is loaded (``InventoryConfig.ready``, after the admin's autodiscover).
    Their models have no rule of their own apart from users, so they show to superusers only.
    Inlines of those admins are left as they are.
    """
    for model_admin in site._registry.values():
        cls = type(model_admin)
        if not isinstance(model_admin, ScopedAdminMixin):
            model_admin.__class__ = type(f"Scoped{cls.__name__}", (ScopedModelAdminMixin, cls), {})
