"""``manage.py twilio_flex create|list|test|ingest|rotate-secrets``: Twilio Flex ACDs from the shell.

- ``create --tenant SLUG --name NAME --account-sid AC… --auth-token T --workspace-sid WS… [--voice]
  [--digital] [--public-key-sid CR… --private-key-file PEM] [--webhook-url URL] [--map ATTRIBUTE=LABEL …]
  [--delete-source] [--time-zone TZ] [--agent-name-format FORMAT] [--encryption-name NAME]`` prints the
  new connection's id (and, with a webhook URL, its signing secret once, on stderr);
- ``list [--tenant SLUG]``; ``test ID``; ``ingest ID [--since ISO8601]`` (inline; prints the totals);
- ``rotate-secrets``: re-encrypt every stored secret with the first key of ``HOLDFAST_SECRET_KEYS``.

Bad input ends with a message naming the option and exit status 1; nothing is saved.
"""

from datetime import UTC, datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.actors import operator
from artifacts.management import get_tenant, local, table
from config import jobs
from core import secrets
from ingestion import probe, services, validation
from ingestion.models import IngestionRun, TwilioFlexConnection

ACTOR = "manage.py twilio_flex"
OPTIONS = {
    "name": "--name",
    "account_sid": "--account-sid",
    "auth_token": "--auth-token",
    "workspace_sid": "--workspace-sid",
    "time_zone": "--time-zone",
    "agent_name_format": "--agent-name-format",
    "products": "--voice/--digital",
    "metadata_mapping": "--map",
    "encryption_name": "--encryption-name",
    "public_key_sid": "--public-key-sid",
    "private_key": "--private-key-file",
    "webhook_url": "--webhook-url",
}


def _messages(exc):
    if hasattr(exc, "message_dict"):
        return [f"{OPTIONS.get(field, field)}: {m}" for field, ms in exc.message_dict.items() for m in ms]
    return list(exc.messages)


class Command(BaseCommand):
    """Create, list, test and ingest Twilio Flex connections."""

    help = "Twilio Flex ACDs: create | list | test ID | ingest ID [--since] | rotate-secrets."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,list,test,ingest,rotate-secrets}")
        create = sub.add_parser("create", help="Create a connection; prints its id.")
        create.add_argument("--tenant", required=True, help="Tenant slug.")
        create.add_argument("--name", required=True)
        create.add_argument("--account-sid", required=True, help="AC + 32 hexadecimal digits.")
        create.add_argument("--auth-token", required=True)
        create.add_argument("--workspace-sid", required=True, help="WS + 32 hexadecimal digits.")
        create.add_argument("--voice", action="store_true", help="Ingest voice (the default without --digital).")
        create.add_argument("--digital", action="store_true", help="Ingest digital (chat, SMS).")
        create.add_argument("--time-zone", default="", help="Default: the tenant's.")
        create.add_argument(
            "--agent-name-format", default="first_last", help=", ".join(TwilioFlexConnection.AgentNameFormat.values)
        )
        create.add_argument("--encryption-name", default="")
        create.add_argument("--public-key-sid", default="", help="CR + 32 hexadecimal digits.")
        create.add_argument("--private-key-file", default="", help="PKCS#8 PEM file of the recording key.")
        create.add_argument("--webhook-url", default="")
        create.add_argument("--map", action="append", default=[], metavar="ATTRIBUTE=LABEL")
        create.add_argument("--delete-source", action="store_true")
        listing = sub.add_parser("list", help="Connections (of one tenant, or all).")
        listing.add_argument("--tenant", default="")
        test = sub.add_parser("test", help="Fetch the account and the workspace with the stored credentials.")
        test.add_argument("id")
        ingest = sub.add_parser("ingest", help="Ingest now, in this process.")
        ingest.add_argument("id")
        ingest.add_argument("--since", default="", help="ISO 8601 time (default: the connection's cursor).")
        sub.add_parser("rotate-secrets", help="Re-encrypt stored secrets with the first HOLDFAST_SECRET_KEYS key.")

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action.replace('-', '_')}")(options)

    def _connection(self, value):
        connection = TwilioFlexConnection.objects.filter(pk=value).first() if str(value).isdigit() else None
        if connection is None:
            raise CommandError(f"ID: no Twilio Flex connection {value!r} (see `manage.py twilio_flex list`).")
        return connection

    def handle_create(self, options):
        tenant = get_tenant(options["tenant"])
        mapping = []
        for line in options["map"]:
            try:
                mapping.append(validation.parse_mapping_line(line))
            except ValueError as exc:
                raise CommandError(f"--map: {exc}.") from None
        private_key = ""
        if options["private_key_file"]:
            try:
                with open(options["private_key_file"], encoding="utf-8") as fh:
                    private_key = fh.read(100_000)
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(
                    f"--private-key-file: cannot read {options['private_key_file']!r} ({exc})."
                ) from None
        fields = {
            "name": options["name"],
            "account_sid": options["account_sid"],
            "auth_token": options["auth_token"],
            "workspace_sid": options["workspace_sid"],
            "voice_enabled": options["voice"] or not options["digital"],
            "digital_enabled": options["digital"],
            "agent_name_format": options["agent_name_format"],
            "encryption_name": options["encryption_name"],
            "public_key_sid": options["public_key_sid"],
            "private_key": private_key,
            "webhook_url": options["webhook_url"],
            "metadata_mapping": mapping,
            "delete_source": options["delete_source"],
        }
        if options["time_zone"]:
            fields["time_zone"] = options["time_zone"]
        try:
            connection, webhook_secret = services.create_connection(tenant.pk, operator(ACTOR), **fields)
        except ValidationError as exc:
            raise CommandError("\n".join(_messages(exc))) from None
        except (PermissionDenied, secrets.SecretsUnavailable) as exc:
            raise CommandError(str(exc)) from None
        if webhook_secret:
            self.stderr.write(f"Webhook signing secret (shown once): {webhook_secret}")
        self.stdout.write(str(connection.pk))

    def handle_list(self, options):
        connections = TwilioFlexConnection.objects.select_related("tenant").order_by("tenant__slug", "name")
        if options["tenant"]:
            connections = connections.filter(tenant=get_tenant(options["tenant"]))
        rows = [
            (
                c.pk,
                c.tenant.slug,
                c.name,
                c.account_sid,
                c.workspace_sid,
                c.products_label,
                "yes" if c.enabled else "no",
                local(c.cursor, c.tenant),
            )
            for c in connections
        ]
        for line in table(
            ("Id", "Tenant", "Name", "Account SID", "Workspace SID", "Products", "Enabled", "Cursor"), rows
        ):
            self.stdout.write(line)

    def handle_test(self, options):
        connection = self._connection(options["id"])
        try:
            token = secrets.decrypt(connection.auth_token_encrypted)
        except secrets.SecretsUnavailable as exc:
            raise CommandError(str(exc)) from None
        result = probe.test_connection(connection.account_sid, token, connection.workspace_sid)
        if not result.ok:
            raise CommandError(result.message)
        self.stdout.write(result.message)

    def handle_ingest(self, options):
        connection = self._connection(options["id"])
        since = None
        if options["since"]:
            try:
                since = datetime.fromisoformat(options["since"].replace("Z", "+00:00"))
            except ValueError:
                raise CommandError(
                    f"--since: {options['since']!r} is not an ISO 8601 time (2026-01-31T08:00:00Z)."
                ) from None
            since = since if since.tzinfo else since.replace(tzinfo=UTC)
        run = services.start_ingestion(
            connection.pk, operator(ACTOR), trigger=IngestionRun.Trigger.COMMAND, since=since, enqueue=False
        )
        jobs.work(run.job_kind, run.pk)
        run.refresh_from_db()
        self.stdout.write(
            f"Run {run.pk}: {run.get_status_display()} — {run.tasks} tasks, {run.interactions_created} interactions "
            f"created, {run.artifacts_stored} artifacts stored, {run.skipped} skipped, {run.errors} errors, "
            f"{run.twilio_calls} Twilio calls."
        )
        for detail in run.error_details:
            self.stdout.write(f"  {detail['item']}: {detail['message']}")
        if run.status != IngestionRun.Status.COMPLETE:
            raise CommandError(run.error_message or f"Run {run.pk} did not complete.")

    def handle_rotate_secrets(self, options):
        try:
            count = services.rotate_secrets(operator(ACTOR))
            others = secrets.rotate_registered(operator(ACTOR))
        except secrets.SecretsUnavailable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{count} connections' secrets re-encrypted with the first key.")
        for what, done in others.items():
            self.stdout.write(f"{done} {what}' secrets re-encrypted with the first key.")
