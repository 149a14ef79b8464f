"""A Twilio Flex connection as an actor: the ingestion source that creates interactions and
stores content, bound to its tenant, holding ``INGEST_CONTENT`` only."""

from accounts.actors import Actor, ActorKind, Source, register_actor_kind
from accounts.permissions import INGEST_CONTENT

KEY_PREFIX = "twilio-flex:"


def connection_actor(connection, source=Source.JOB):
    """The ingestion source of ``connection``: what it stores is recorded in its name."""
    return Actor(
        kind=ActorKind.INGESTION,
        key=f"{KEY_PREFIX}{connection.pk}",
        label=f"Twilio Flex “{connection.name}”",
        source=source,
        grants=frozenset({INGEST_CONTENT}),
        tenant_id=connection.tenant_id,
    )


def _restore(key, label):
    """Work queued for a connection runs as it; a deleted connection holds nothing."""
    from .models import TwilioFlexConnection

    pk = key.removeprefix(KEY_PREFIX)
    connection = TwilioFlexConnection.objects.filter(pk=pk).first() if pk.isdigit() else None
    if connection is None:
        return Actor(kind=ActorKind.INGESTION, key=key, label=label, source=Source.JOB)
    return connection_actor(connection)


def register():
    """Let jobs restore ingestion-source actors (``IngestionConfig.ready``)."""
    register_actor_kind(ActorKind.INGESTION, _restore)
