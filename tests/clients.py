"""API clients for staff with exactly the permissions a test names."""

from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from tests.factories import UserFactory


def staff_client(*codenames: str) -> APIClient:
    """An APIClient authenticated as a new staff user holding ``codenames``; the user is ``client.user``."""
    user = UserFactory()
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client
