"""The OpenAPI document against the running API: schemathesis generates requests for every operation
of ``/api/v1/schema/`` (valid and invalid data) and sends them over HTTP to a live server on a seeded
database; no answer may be a 5xx, and every answer — problem+json errors included — must be a
documented status with a documented content type, headers and body.

Bounded and deterministic: a fixed number of examples per operation and mode, derandomized, no
example database, so the run takes the same time and finds the same cases every time.
"""

import datetime as dt

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.scopes import SCOPES
from artifacts.services import delete_artifacts
from core.vocabulary import ArtifactType, ContentKey
from tests.api.conftest import Integrator
from tests.factories import SYSTEM, ArtifactFactory, InteractionFactory, management_request

pytestmark = pytest.mark.django_db(transaction=True)  # the live server reads committed rows
EXAMPLES = 6  # per operation and generation mode
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def seeded(acme, globex, settings, rq_queue):
    """acme with recordings, transcripts, a shared attachment key, locked and deleted content,
    requests and audit events; a globex interaction (never reachable from acme's client)."""
    settings.API_BATCH_WAIT = 2.0
    settings.API_RATE_LIMIT = settings.API_TENANT_RATE_LIMIT = "100000/min"
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    calls = []
    for n in range(8):
        call = InteractionFactory(tenant=acme, started_at=start + dt.timedelta(minutes=n))
        ArtifactFactory(interaction=call)
        if n % 2:
            ArtifactFactory(
                interaction=call, artifact_type=ArtifactType.MESSAGING_TRANSCRIPT, content_key=ContentKey.TRANSCRIPT
            )
        calls.append(call)
    mail = InteractionFactory(tenant=acme, channel="email", started_at=start + dt.timedelta(hours=1))
    for _ in range(2):
        ArtifactFactory(interaction=mail, artifact_type=ArtifactType.EMAIL, content_key=ContentKey.ATTACHMENT)
    management_request(acme, SYSTEM, "add_lock", calls[:2], process=True)
    delete_artifacts(acme.pk, [calls[2].artifacts.first().pk], SYSTEM, "seed")
    management_request(acme, SYSTEM, "add_lock", calls[3:4])  # stays Queued
    ArtifactFactory(interaction=InteractionFactory(tenant=globex, started_at=start))
    settings.JOBS_INLINE = True  # requests the run creates are processed in the live server
    client = Integrator(acme, list(SCOPES), name="schemathesis")
    return {"calls": calls, "mail": mail, "token": client.token, "start": start}


def run_operation(operation, base_url, headers, mode, checks, **fixed):
    """Send ``EXAMPLES`` generated requests for one operation; raise on the first failed check."""
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        case.validate_response(response, checks=checks, headers=headers)

    check()


def test_every_operation_conforms_to_the_schema(live_server, seeded):
    document = requests.get(f"{live_server.url}/api/v1/schema/?format=json", timeout=30)
    assert document.status_code == 200
    schema = schemathesis.openapi.from_dict(document.json())
    headers = {"Authorization": f"Bearer {seeded['token']}"}
    known = {
        "guid": str(seeded["calls"][1].guid),
        "contentKey": ContentKey.CALL_RECORDING,
    }
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16, [op.label for op in operations]
    failures = []
    for operation in operations:
        for mode, checks in (
            (schemathesis.GenerationMode.POSITIVE, CONFORMANCE),
            (schemathesis.GenerationMode.NEGATIVE, [*CONFORMANCE, negative_data_rejection]),
        ):
            runs = [{}]
            names = {p.name for p in operation.path_parameters}
            if names and names <= set(known) and mode == schemathesis.GenerationMode.POSITIVE:
                runs.append({"path_parameters": {name: known[name] for name in names}})
            for fixed in runs:
                try:
                    run_operation(operation, live_server.url, headers, mode, checks, **fixed)
                except Unsatisfiable:
                    assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
                    continue  # every value of its parameters is valid (strings): nothing to negate
                except (Exception, BaseExceptionGroup) as exc:  # every operation's failures, reported together
                    failures.append(f"{operation.label} [{mode.value}{' fixed' if fixed else ''}]: {exc}")
    assert not failures, "\n\n".join(failures)
