"""``manage.py artifacts_requests``: Artifacts Management Requests from the command line.

Subcommands: ``create``, ``list``, ``show``, ``retry``, ``cancel`` and ``reap``. Everything goes
through :mod:`artifacts.services` with the named user as the actor, so the command applies the same
validation and permissions as the page (one validator, :mod:`artifacts.validation`) and writes the
same audit trail. Running ``create`` is the operator's confirmation: the confirmation text the
product requires is printed and recorded on the request.

Bad input ends in ``CommandError``: a message naming the option and the problem, exit status 1,
nothing saved. The job is enqueued when the request commits: to RQ when ``REDIS_URL`` is set (a
``manage.py rqworker default`` runs it), inline in this process otherwise.
"""

import datetime as dt
import re
import sys
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Sum
from django.db.models.functions import Coalesce

from accounts.actors import operator
from artifacts import processing, services
from artifacts.management import choice_value, get_member, get_tenant, local, shorten, table
from artifacts.models import ManagementRequest, ManagementRequestItem
from artifacts.validation import CONFIRMATIONS
from core.vocabulary import ARTIFACT_TYPE_SELECTION_CHOICES, AudioRecordingType

RequestType, Status = ManagementRequest.RequestType, ManagementRequest.Status

#: The command-line option of each field the validator names.
FIELD_OPTIONS = {
    "request_type": "--type",
    "artifact_type": "--artifact-type",
    "audio_recording_type": "--audio-type",
    "interaction_ids": "--ids",
    "description": "--description",
    "lock_expires": "--expires",
    "lock_expires_on": "--expires",
    "confirmed": "confirmation",
    "matter": "--matter",
    "reason": "--reason",
}
#: Numeric options and their bounds. Checked before anything is looked up or saved: a value out of
#: range is a message naming the option, not a database error ("bigint out of range") or an
#: overflow (a timeout past what a float holds).
NUMERIC_OPTIONS = {
    "limit": ("--limit", 1, 100_000),
    "wait_timeout": ("--wait-timeout", 0, 7 * 24 * 3600),
}
RESULT_FIELDS = ("matched", "locked", "unlocked", "deleted", "skipped_locked")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_date(text, option="--expires"):
    """A ``YYYY-MM-DD`` date, or ``CommandError`` naming ``option``."""
    try:
        if not _DATE.match(text.strip()):
            raise ValueError
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"{option}: {text!r} is not a date; use YYYY-MM-DD (e.g. 2030-12-31).") from None


def check_numbers(options):
    """``CommandError`` naming the first of :data:`NUMERIC_OPTIONS` whose value is out of its range."""
    for name, (option, low, high) in NUMERIC_OPTIONS.items():
        value = options.get(name)
        if value is not None and not low <= value <= high:
            # Very long numbers are not echoed (Python refuses to print an int of over 4,300 digits).
            got = f"{value:,}" if value.bit_length() <= 64 else "a number far outside that"
            raise CommandError(f"{option}: must be a whole number from {low:,} to {high:,} (got {got}).")


def validation_message(exc):
    """A ``ValidationError`` from the services as lines naming the command-line options."""
    if not hasattr(exc, "error_dict"):
        return "\n".join(f"  {message}" for message in exc.messages)
    return "\n".join(
        f"  {FIELD_OPTIONS.get(field, field)}: {message}"
        for field, messages in exc.message_dict.items()
        for message in messages
    )


def get_request(request_id):
    """The request with ``request_id``, or ``CommandError``."""
    req = ManagementRequest.objects.select_related("tenant").filter(pk=request_id).first()
    if req is None:
        raise CommandError(f"No Artifacts Management Request with id {request_id}.")
    return req


class Command(BaseCommand):
    """Create, list, show, retry, cancel and reap Artifacts Management Requests."""

    help = "Artifacts Management Requests: create | list | show | retry | cancel | reap."
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        sub = parser.add_subparsers(
            dest="action", required=True, metavar="{create,list,show,retry,cancel,approve,reject,reap}"
        )

        create = sub.add_parser("create", help="Create a request (running it is your confirmation).")
        create.add_argument("--tenant", required=True, help="Tenant slug.")
        create.add_argument("--type", required=True, help="add_lock, remove_lock or delete (or 'Add Lock' ...).")
        create.add_argument(
            "--artifact-type",
            required=True,
            help=f"{', '.join(v for v, _ in ARTIFACT_TYPE_SELECTION_CHOICES)} (or their labels).",
        )
        create.add_argument(
            "--audio-type", default="", help=f"Audio Recording only: {', '.join(AudioRecordingType.values)}."
        )
        create.add_argument(
            "--ids", nargs="+", action="extend", default=[], help="Interaction GUIDs (commas or spaces)."
        )
        create.add_argument("--ids-file", help="File with interaction GUIDs, or - for standard input.")
        create.add_argument("--expires", help="Lock Expires On, YYYY-MM-DD (Add Lock only).")
        create.add_argument("--remove-locks", action="store_true", help="Remove Locks to Process Request (Delete).")
        create.add_argument(
            "--require-export",
            action="store_true",
            help="Export Before Deleting (Delete): only content in a verified export is deleted; "
            "the rest is exported first.",
        )
        create.add_argument("--description", default="")
        create.add_argument(
            "--matter", default="", help="Case id of a legal matter (Add Lock: its locks; Remove Lock: only its locks)."
        )
        create.add_argument("--user", required=True, help="Username of the creator (a member of the tenant).")
        self._add_wait(create)

        listing = sub.add_parser("list", help="A tenant's requests, newest first.")
        listing.add_argument("--tenant", required=True, help="Tenant slug.")
        listing.add_argument("--status", help="queued, in_progress, complete, error or cancelled.")
        listing.add_argument("--type", help="add_lock, remove_lock or delete.")
        listing.add_argument("--limit", type=int, default=50, help="Most rows shown, 1 to 100,000 (default 50).")

        show = sub.add_parser("show", help="Every field of a request, its per-interaction results and totals.")
        show.add_argument("id", type=int)

        for name, text in (
            ("retry", "Retry a request in Error."),
            ("cancel", "Cancel a Queued or Awaiting Approval request."),
            ("approve", "Approve a request Awaiting Approval (two-person approval; not its creator)."),
            ("reject", "Reject a request Awaiting Approval, with --reason."),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("id", type=int)
            action.add_argument("--user", required=True, help="Username of the actor (a member of the tenant).")
            if name in ("retry", "approve"):
                self._add_wait(action)
            if name == "reject":
                action.add_argument("--reason", required=True, help="Why the request is rejected.")

        sub.add_parser("reap", help="Turn In Progress requests whose worker died into Error (retryable).")

    @staticmethod
    def _add_wait(parser):
        parser.add_argument("--wait", action="store_true", help="Wait until the request is finished.")
        parser.add_argument(
            "--wait-timeout", type=int, default=3600, help="Seconds to wait at most, 0 to 604,800 (default 3600)."
        )

    def handle(self, *args, **options):
        self.stdin = options.get("stdin") or sys.stdin
        check_numbers(options)
        getattr(self, f"handle_{options['action']}")(options)

    # --- create ----------------------------------------------------------------------------
    def read_ids(self, options):
        """The ``--ids`` values and the contents of ``--ids-file``, as one text for the validator."""
        parts = list(options["ids"] or [])
        path = options.get("ids_file")
        if path:
            try:
                if path == "-":
                    parts.append(self.stdin.read())
                else:
                    with open(path, encoding="utf-8") as handle:
                        parts.append(handle.read())
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"--ids-file: cannot read {path!r}: {exc}") from None
        return ",".join(parts)

    def handle_create(self, options):
        tenant = get_tenant(options["tenant"])
        user = get_member(options["user"], tenant)
        request_type = choice_value("--type", options["type"], RequestType.choices)
        artifact_type = choice_value("--artifact-type", options["artifact_type"], ARTIFACT_TYPE_SELECTION_CHOICES)
        audio_type = choice_value("--audio-type", options["audio_type"], AudioRecordingType.choices, blank_ok=True)
        expires_on = parse_date(options["expires"]) if options["expires"] else None
        if options["remove_locks"] and request_type != RequestType.DELETE:
            raise CommandError("--remove-locks: Remove Locks to Process Request only applies to Delete requests.")
        if options["require_export"] and request_type != RequestType.DELETE:
            raise CommandError("--require-export: Export Before Deleting only applies to Delete requests.")
        try:
            req = services.create_management_request(
                tenant.pk,
                operator("manage.py artifacts_requests", user=user),
                request_type=request_type,
                artifact_type=artifact_type,
                audio_recording_type=audio_type,
                interaction_ids=self.read_ids(options),
                description=options["description"],
                lock_expires=expires_on is not None,
                lock_expires_on=expires_on,
                remove_locks=options["remove_locks"],
                require_export=options["require_export"],
                matter=options["matter"],
                confirmed=True,
            )
        except PermissionDenied as exc:
            raise CommandError(f"--user: {user.username} on {tenant.slug}: {exc}") from None
        except ValidationError as exc:
            raise CommandError(f"Request not saved:\n{validation_message(exc)}") from None
        self.stdout.write(f"Confirmation recorded: {CONFIRMATIONS[request_type]}")
        req.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"Created request {req.pk}: {req.get_request_type_display()}, {req.artifact_type_label}"
                + (f" · {req.get_audio_recording_type_display()}" if req.audio_recording_type else "")
                + f", {req.interaction_count} interaction(s); status {req.get_status_display()}."
            )
        )
        self.after_queueing(req, options)

    def after_queueing(self, req, options):
        """Say where the job went; with ``--wait``, wait for the end and print the totals."""
        if req.awaits_approval:
            self.stdout.write(
                "Awaiting Approval: a second user holding the same permissions must approve it "
                f"(`manage.py artifacts_requests approve {req.pk} --user USERNAME`, or on the request's page)."
            )
            self.stdout.write(f"Details: manage.py artifacts_requests show {req.pk}")
            return
        if req.status == Status.QUEUED and not settings.JOBS_INLINE:
            self.stdout.write(
                f"Queued on RQ (job {req.rq_job_id or 'pending'}); a `manage.py rqworker default` runs it."
            )
        if options.get("wait"):
            req = self.wait(req, options["wait_timeout"])
        if req.is_finished:
            self.stdout.write(f"Status {req.get_status_display()}. Totals: {self.totals_text(req)}.")
            if req.status == Status.ERROR:
                raise CommandError(f"Request {req.pk} ended in Error: {req.error_message}")
        self.stdout.write(f"Details: manage.py artifacts_requests show {req.pk}")

    def wait(self, req, timeout):
        """Poll the row until the request is finished or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while not req.is_finished:
            if time.monotonic() > deadline:
                raise CommandError(
                    f"Request {req.pk} is still {req.get_status_display()} after {timeout} s "
                    "(is a worker running? `manage.py rqworker default`)."
                )
            time.sleep(1)
            req.refresh_from_db()
        return req

    # --- list / show -------------------------------------------------------------------------
    def handle_list(self, options):
        tenant = get_tenant(options["tenant"])
        requests = ManagementRequest.objects.filter(tenant=tenant)
        if options["status"]:
            requests = requests.filter(status=choice_value("--status", options["status"], Status.choices))
        if options["type"]:
            requests = requests.filter(request_type=choice_value("--type", options["type"], RequestType.choices))
        total = requests.count()
        rows = [
            (
                req.pk,
                local(req.created_at, tenant),
                req.get_request_type_display(),
                req.interaction_count,
                shorten(req.description) or None,
                req.artifact_type_label,
                req.get_audio_recording_type_display() or None,
                req.get_status_display(),
            )
            for req in requests[: options["limit"]]
        ]
        headers = (
            "Request Id", "Request Date", "Request Type", "Interaction Ids",
            "Description", "Artifact Type", "Audio Recording Type", "Status",
        )  # fmt: skip
        for line in table(headers, rows):
            self.stdout.write(line)
        self.stdout.write(f"{len(rows)} of {total} request(s) of {tenant.slug} (times in {tenant.time_zone}).")

    @staticmethod
    def totals(req):
        """Sum of each result column over the request's items."""
        return req.items.aggregate(**{field: Coalesce(Sum(field), 0) for field in RESULT_FIELDS})

    def totals_text(self, req):
        labels = dict(matched="matched", locked="locked", unlocked="unlocked", deleted="deleted")
        labels["skipped_locked"] = "skipped because locked"
        return ", ".join(f"{n} {labels[field]}" for field, n in self.totals(req).items())

    def handle_show(self, options):
        req = get_request(options["id"])
        tenant = req.tenant
        items = list(req.items.select_related("interaction").order_by("position"))
        finished = sum(item.status != ManagementRequestItem.Status.PENDING for item in items)
        expires = "—"
        if req.lock_expires_on:
            expires = f"{req.lock_expires_on:%Y-%m-%d} (holds until {local(req.lock_expires_at, tenant)})"
        fields = (
            ("Request Id", req.pk),
            ("Tenant", f"{tenant.name} ({tenant.slug})"),
            ("Request Date", f"{local(req.created_at, tenant)} {tenant.time_zone}"),
            ("Creator", req.created_by),
            ("Description", req.description or "—"),
            ("Request Type", req.get_request_type_display()),
            ("Artifact Type", req.artifact_type_label),
            ("Audio Recording Type", req.get_audio_recording_type_display() or "—"),
            ("Interaction Ids", req.interaction_count),
            ("Lock Expires On", expires),
            ("Remove Locks to Process Request", "Yes" if req.remove_locks else "No"),
            ("Export Before Deleting", "Yes" if req.require_export else "No"),
            ("Confirmation", req.confirmation),
            ("Matter", str(req.matter) if req.matter_id else "—"),
            ("Status", req.get_status_display()),
            (
                "Approved or rejected by",
                f"{req.decided_by} ({local(req.decided_at, tenant)})" if req.decided_by else "—",
            ),
            ("Rejection reason", req.rejection_reason or "—"),
            ("Progress", f"{finished} of {len(items)} interaction(s) finished"),
            ("Error", req.error_message or "—"),
            ("Retryable", "Yes" if req.status == Status.ERROR and req.retryable else "No"),
            ("Attempts", req.attempts),
            ("Started", local(req.started_at, tenant)),
            ("Finished", local(req.finished_at, tenant)),
            ("RQ job", req.rq_job_id or "—"),
        )
        width = max(len(label) for label, _ in fields)
        for label, value in fields:
            self.stdout.write(f"{label + ':':<{width + 1}} {value}")
        self.stdout.write("")
        rows = [
            (
                item.position + 1,
                item.interaction.guid,
                item.get_status_display(),
                *(getattr(item, field) for field in RESULT_FIELDS),
                shorten(item.error, 60) or None,
            )
            for item in items
        ]
        totals = self.totals(req)
        rows.append(("", "Totals", "", *(totals[field] for field in RESULT_FIELDS), ""))
        headers = (
            "#", "Interaction Id", "Status", "Matched", "Locked",
            "Unlocked", "Deleted", "Skipped because locked", "Error",
        )  # fmt: skip
        for line in table(headers, rows):
            self.stdout.write(line)

    # --- retry / cancel / reap ---------------------------------------------------------------

    def as_member(self, service, options, *args):
        """Run ``service(request id, actor, *args)`` as ``--user``; refusals become CommandErrors."""
        req = get_request(options["id"])
        user = get_member(options["user"], req.tenant)
        try:
            service(req.pk, operator("manage.py artifacts_requests", user=user), *args)
        except PermissionDenied as exc:
            raise CommandError(f"--user: {options['user']}: {exc}") from None
        except ValidationError as exc:
            raise CommandError(validation_message(exc).strip()) from None
        req.refresh_from_db()
        return req

    def handle_retry(self, options):
        req = self.as_member(services.retry_management_request, options)
        pending = req.items.filter(status=ManagementRequestItem.Status.PENDING).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Request {req.pk} queued again: {pending} interaction(s) to redo; status {req.get_status_display()}."
            )
        )
        self.after_queueing(req, options)

    def handle_cancel(self, options):
        req = self.as_member(services.cancel_management_request, options)
        self.stdout.write(self.style.SUCCESS(f"Request {req.pk} cancelled."))

    def handle_approve(self, options):
        req = self.as_member(services.approve_management_request, options)
        self.stdout.write(self.style.SUCCESS(f"Request {req.pk} approved; status {req.get_status_display()}."))
        self.after_queueing(req, options)

    def handle_reject(self, options):
        req = self.as_member(services.reject_management_request, options, options["reason"])
        self.stdout.write(self.style.SUCCESS(f"Request {req.pk} rejected: {req.rejection_reason}"))

    def handle_reap(self, options):
        reaped = processing.lost_requests()
        if reaped:
            self.stdout.write(
                self.style.WARNING(
                    f"Reaped {len(reaped)} request(s) whose worker was lost (now Error, retryable): "
                    + ", ".join(str(pk) for pk in reaped)
                )
            )
        else:
            self.stdout.write("No lost requests: every In Progress request has a live worker.")
