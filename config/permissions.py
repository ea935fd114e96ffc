"""Permission classes for the staff API."""

from rest_framework import permissions


class ModelPermissions(permissions.DjangoModelPermissions):
    """Django model permissions, with reading requiring the ``view`` permission too."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
    }


def require_permission(perm: str) -> type[permissions.BasePermission]:
    """A permission class for a named Django permission, e.g. ``inventory.adjust_stock``."""

    class HasPermission(permissions.IsAuthenticated):
        def has_permission(self, request, view):
            return super().has_permission(request, view) and request.user.has_perm(perm)

    HasPermission.__name__ = f"Has_{perm.replace('.', '_')}"
    return HasPermission
