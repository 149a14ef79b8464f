"""The API's OAuth2 scopes, what each lets an API client do on its tenant, and the scopes backend
that limits a client to the scopes it was created with."""

from oauth2_provider.scopes import BaseScopes

from accounts.permissions import (
    ACCESS_CONTENT,
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS,
    ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS,
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ARTIFACTS_MANAGEMENT_REQUESTS_READ,
    EXPORT_CONTENT,
    VIEW_INTERACTIONS,
)

CONTENT_READ = "interaction-content:read"
CONTENT_DELETE = "interaction-content:delete"
HOLDS_APPLY = "holds:apply"
HOLDS_REVOKE = "holds:revoke"
REQUESTS_READ = "requests:read"
REQUESTS_WRITE = "requests:write"
AUDIT_READ = "audit:read"
EXPORTS_READ = "exports:read"
EXPORTS_WRITE = "exports:write"

#: Scope → what it allows, as the token endpoint and the OpenAPI page describe it.
SCOPES = {
    CONTENT_READ: "List interactions and recordings, read their content.",
    CONTENT_DELETE: "Delete interaction content (never locked content).",
    HOLDS_APPLY: "Place holds (Add Lock requests) and ask which interactions are protected.",
    HOLDS_REVOKE: "Release holds (Remove Lock requests).",
    REQUESTS_READ: "See Artifacts Management Requests and their results.",
    REQUESTS_WRITE: "Create, cancel and retry Artifacts Management Requests.",
    AUDIT_READ: "Read the tenant's audit trail.",
    EXPORTS_READ: "Follow export bundles and download them.",
    EXPORTS_WRITE: "Create export bundles (verified zips of interactions' content).",
}

#: Pseudo-permission an API client holds with ``audit:read`` (no role grants it: the audit trail is
#: read on interaction pages with VIEW_INTERACTIONS; the API reads it whole).
READ_AUDIT = "read_audit"

#: The tenant permissions each scope grants the client (services check these, like a user's).
SCOPE_GRANTS = {
    CONTENT_READ: {VIEW_INTERACTIONS, ACCESS_CONTENT},
    # Deleting or releasing addresses interactions by GUID, which needs seeing them (not their content).
    CONTENT_DELETE: {ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, VIEW_INTERACTIONS},
    HOLDS_APPLY: {ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, VIEW_INTERACTIONS},
    HOLDS_REVOKE: {ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS, VIEW_INTERACTIONS},
    REQUESTS_READ: {ARTIFACTS_MANAGEMENT_REQUESTS_READ},
    REQUESTS_WRITE: {ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, ARTIFACTS_MANAGEMENT_REQUESTS_READ},
    AUDIT_READ: {READ_AUDIT},
    EXPORTS_READ: {EXPORT_CONTENT},
    EXPORTS_WRITE: {EXPORT_CONTENT, VIEW_INTERACTIONS},
}


def grants_of(scopes):
    """The permissions a set of scopes grants."""
    return frozenset().union(*(SCOPE_GRANTS.get(scope, ()) for scope in scopes))


def parse_scopes(text):
    """Scopes from text (space or comma separated); raises ValueError naming unknown ones."""
    scopes = sorted({part for part in str(text or "").replace(",", " ").split() if part})
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise ValueError(f"at least one scope is needed; known: {', '.join(SCOPES)}")
    return scopes


class ClientScopes(BaseScopes):
    """A token may carry only the scopes its API client was created with; asking for none gives
    all of them (``OAUTH2_PROVIDER["SCOPES_BACKEND_CLASS"]``)."""

    def get_all_scopes(self):
        return SCOPES

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        client = getattr(application, "api_client", None)
        if client is None or client.revoked_at is not None:
            return []
        return client.scope_list

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return self.get_available_scopes(application, request)
