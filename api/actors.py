"""API clients as actors: who they are in the audit trail, and what their scopes let them do."""

from accounts.actors import Actor, ActorKind, Source, client_address, register_actor_kind

from .scopes import grants_of


def client_actor(client, scopes, request=None, source=Source.API):
    """The actor of an API call by ``client`` with a token carrying ``scopes``: bound to the
    client's tenant, holding what those scopes grant, named by the client's name and id."""
    return Actor(
        kind=ActorKind.API_CLIENT,
        key=client.client_id,
        label=f"API client “{client.name}” ({client.client_id})",
        source=source,
        remote_addr=client_address(request) if request is not None else None,
        grants=grants_of(scopes),
        tenant_id=client.tenant_id,
    )


def _restore(key, label):
    """Work queued by an API client acts with the client's scopes as they are when it runs; a
    revoked client holds nothing."""
    from .models import ApiClient

    client = ApiClient.objects.filter(client_id=key, revoked_at__isnull=True).first()
    if client is None:
        return Actor(kind=ActorKind.API_CLIENT, key=key, label=label, source=Source.JOB)
    return client_actor(client, client.scope_list, source=Source.JOB)


def register():
    """Let jobs restore API-client actors (``ApiConfig.ready``)."""
    register_actor_kind(ActorKind.API_CLIENT, _restore)
