"""``manage.py export_artifacts``: an export bundle written to a file or to stdout, streamed.

    manage.py export_artifacts --tenant acme --from 2026-11-01 --to 2026-11-30 --direction outbound \\
        --origin dialer --type audio_recording --out november-dialer.zip
    manage.py export_artifacts --tenant acme --interactions "GUID,GUID" --out - > bundle.zip

The selection is the interactions list's filters (the same options), ``--interactions`` (GUIDs) or
``--request`` (an Artifacts Management Request's interactions), at most EXPORT_MAX_INTERACTIONS.
The export is a row like any other (Configuration > Exports), created, written and audited as the
operator (or ``--user``, with that user's grants); its zip goes to ``--out`` only, never to the
exports storage. Bad input: a message naming the option on stderr, exit status 1, nothing saved and
no file left behind.
"""

import os
import sys

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.actors import operator
from artifacts.management import get_member, get_tenant
from exports import runner, services
from exports.models import Export
from exports.streams import HashingSink

#: Command-line option → the interactions list's filter.
FILTER_OPTIONS = {
    "--from": "started_from",
    "--to": "started_to",
    "--channel": "channel",
    "--direction": "direction",
    "--origin": "origin",
    "--agent": "agent",
    "--type": "artifact_type",
    "--locked": "locked",
    "--search": "q",
}
#: The list's field labels (its error messages start with them) → the option that sets the field.
LABEL_OPTIONS = {
    "From date": "--from",
    "To date": "--to",
    "Channel": "--channel",
    "Direction": "--direction",
    "Origin": "--origin",
    "Agent": "--agent",
    "Artifact type": "--type",
    "Lock": "--locked",
    "Search": "--search",
}
FIELD_OPTIONS = {
    "interaction_ids": "--interactions",
    "request": "--request",
    "artifact_type": "--type",
    "selection": "selection",
}


def messages_of(exc):
    """The service's ``ValidationError`` as lines naming the command's options."""
    lines = []
    for field, errors in exc.message_dict.items():
        for error in errors:
            if field == "filters":
                label, _, rest = error.partition(": ")
                lines.append(f"{LABEL_OPTIONS.get(label, label)}: {rest or error}")
            else:
                lines.append(f"{FIELD_OPTIONS.get(field, field)}: {error}")
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Write a verified export bundle (zip) of a tenant's content to a file or stdout (-), streamed."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        for option, name in FILTER_OPTIONS.items():
            parser.add_argument(option, dest=name, default="", help=f"The interactions list's {name} filter.")
        parser.add_argument("--interactions", default="", help="Interaction GUIDs (commas, spaces or new lines).")
        parser.add_argument("--request", default="", help="An Artifacts Management Request's id: its interactions.")
        parser.add_argument("--description", default="", help="Why (recorded on the export and in the audit trail).")
        parser.add_argument("--user", default="", help="Act as this member of the tenant (default: the operator).")
        parser.add_argument("--out", required=True, help="The zip's path, or - for stdout.")

    def handle(self, *args, **options):
        tenant = get_tenant(options["tenant"])
        actor = operator("export_artifacts")
        if options["user"]:
            actor = operator("export_artifacts", user=get_member(options["user"], tenant))
        out = options["out"]
        if out != "-":
            folder = os.path.dirname(os.path.abspath(out))
            if not os.path.isdir(folder):
                raise CommandError(f"--out: the folder {folder} does not exist.")
            if os.path.isdir(out):
                raise CommandError(f"--out: {out} is a folder; name the zip file.")
        if options["request"] and not options["request"].isdigit():
            raise CommandError(f"--request: {options['request']!r} is not a request id (a whole number).")
        filters = {name: options[name] for name in FILTER_OPTIONS.values() if options[name]}
        try:
            export = services.create_export(
                tenant.pk,
                actor,
                filters=filters,
                interaction_ids=options["interactions"] or None,
                request_id=int(options["request"]) if options["request"] else None,
                description=options["description"],
                destination=Export.Destination.OUTPUT,
            )
        except ValidationError as exc:
            raise CommandError(messages_of(exc)) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        self._write(export, out)

    def _write(self, export, out):
        if out == "-":
            target = HashingSink(sys.stdout.buffer)
            try:
                runner.export_to_stream(export.pk, target)
            except Exception as exc:
                raise CommandError(f"Export {export.pk} failed: {exc}") from None
            target.flush()
        else:
            partial = f"{out}.partial"
            try:
                with open(partial, "wb") as stream:
                    runner.export_to_stream(export.pk, stream)
                os.replace(partial, out)
            except Exception as exc:
                if os.path.exists(partial):
                    os.remove(partial)
                raise CommandError(f"Export {export.pk} failed, nothing written: {exc}") from None
        export.refresh_from_db()
        self.stderr.write(
            f"Export {export.pk}: {export.artifact_total} artifacts of {export.interaction_count} interactions, "
            f"zip {export.size} bytes, SHA-256 {export.sha256}" + (f", written to {out}" if out != "-" else "")
        )
