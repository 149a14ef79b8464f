"""The role matrix every view test uses: anonymous, no permission, each role, other tenant."""

from django.test import Client

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from tests.factories import MembershipFactory, TenantFactory, UserFactory

ROLES = (VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR)


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def assert_role_matrix(url, tenant, allowed, method="get", data=None, ok_status=200):
    """Check ``url`` of ``tenant`` answers each kind of user as the product requires.

    - anonymous → redirect to the login page;
    - a user with a membership in another tenant only → 404 (the tenant is not revealed);
    - a member of ``tenant`` whose role is in ``allowed`` → ``ok_status``; other roles → 403.

    ``url`` may be a callable taking nothing, for URLs whose object a POST consumes.
    """
    get_url = url if callable(url) else (lambda: url)
    anonymous = getattr(Client(), method)(get_url(), data or {})
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"], anonymous

    outsider = UserFactory()
    MembershipFactory(user=outsider, tenant=TenantFactory(), role_name=ADMINISTRATOR)
    response = getattr(client_for(outsider), method)(get_url(), data or {})
    assert response.status_code == 404, f"other tenant's admin got {response.status_code}"

    for role in ROLES:
        user = UserFactory()
        MembershipFactory(user=user, tenant=tenant, role_name=role)
        response = getattr(client_for(user), method)(get_url(), data or {})
        expected = ok_status if role in allowed else 403
        assert response.status_code == expected, f"{role} got {response.status_code}, expected {expected}"
