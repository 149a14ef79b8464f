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


def assert_scope_matrix(make_client, call, scope, ok_status=200, other_tenant=None):
    """Check an API operation answers each kind of caller as the contract requires.

    ``make_client(scopes, tenant=None)`` makes an API client with a token (the ``integrator``
    fixture); ``call(client)`` sends the request (a fresh object each time, for operations that
    consume one) and returns the response.

    - no bearer token → 401 problem;
    - a client holding every scope but ``scope`` → 403 problem naming ``scope``;
    - a client holding only ``scope`` → ``ok_status``;
    - with ``other_tenant``: a client of that tenant holding every scope → 404 (nothing revealed).
    """
    from api.scopes import SCOPES

    problem = "application/problem+json"
    holder = make_client([scope])
    anonymous = call(_Unauthenticated(holder))
    assert anonymous.status_code == 401 and anonymous["Content-Type"] == problem, anonymous
    others = [s for s in SCOPES if s != scope]
    refused = call(make_client(others))
    assert refused.status_code == 403 and refused["Content-Type"] == problem, refused
    assert scope in refused.json()["detail"], refused.json()
    allowed = call(holder)
    assert allowed.status_code == ok_status, (allowed.status_code, getattr(allowed, "content", b"")[:500])
    if other_tenant is not None:
        foreign = call(make_client(list(SCOPES), tenant=other_tenant))
        assert foreign.status_code == 404 and foreign["Content-Type"] == problem, foreign


class _Unauthenticated:
    """An API client's methods without its bearer token."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, method):
        send = getattr(self.client, method)
        return lambda *args, **kwargs: send(*args, **{**kwargs, "HTTP_AUTHORIZATION": ""})
