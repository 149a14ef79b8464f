"""``manage.py api_clients create|list|revoke``: the tenant's API clients, from the command line.

``create --tenant SLUG --name NAME --scopes "SCOPE …"`` prints ``{"client_id": …, "client_secret": …}``
(the secret is shown this once and stored hashed). Bad input ends in a message naming the option.
"""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.actors import operator
from api import services
from api.models import ApiClient
from api.scopes import SCOPES
from artifacts.management import get_tenant, local, table

ACTOR = "manage.py api_clients"
OPTIONS = {"name": "--name", "scopes": "--scopes"}


class Command(BaseCommand):
    """Create, list and revoke API clients."""

    help = "API clients of a tenant: create | list | revoke."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,revoke}")
        create = sub.add_parser("create", help="Create a client; prints its id and secret (shown once).")
        create.add_argument("--tenant", required=True, help="Tenant slug.")
        create.add_argument("--name", required=True)
        create.add_argument("--scopes", required=True, help=f"Space-separated: {' '.join(SCOPES)}")
        listing = sub.add_parser("list", help="The tenant's clients (revoked ones too).")
        listing.add_argument("--tenant", required=True, help="Tenant slug.")
        revoke = sub.add_parser("revoke", help="Revoke a client at once (its tokens stop working).")
        revoke.add_argument("client_id")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action}")(options)

    def handle_create(self, options):
        tenant = get_tenant(options["tenant"])
        try:
            client, secret = services.create_api_client(
                tenant.pk, operator(ACTOR), name=options["name"], scopes=options["scopes"]
            )
        except ValidationError as exc:
            raise CommandError(
                "\n".join(f"{OPTIONS.get(f, f)}: {m}" for f, ms in exc.message_dict.items() for m in ms)
            ) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps({"client_id": client.client_id, "client_secret": secret}))

    def handle_list(self, options):
        tenant = get_tenant(options["tenant"])
        rows = [
            (
                c.client_id,
                c.name,
                c.scopes,
                local(c.created_at, tenant),
                local(c.revoked_at, tenant) if c.revoked_at else "",
            )
            for c in ApiClient.objects.filter(tenant=tenant).order_by("created_at")
        ]
        for line in table(("Client id", "Name", "Scopes", "Created", "Revoked"), rows):
            self.stdout.write(line)

    def handle_revoke(self, options):
        client = ApiClient.objects.filter(client_id=options["client_id"]).first()
        if client is None:
            raise CommandError(f"client_id: no API client {options['client_id']!r}.")
        try:
            services.revoke_api_client(client.pk, operator(ACTOR))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"API client {client.name} ({client.client_id}) revoked."))
