"""The permissions Holdfast grants per tenant, and the default roles that bundle them.

Permissions are Django permissions declared on ``accounts.Tenant`` and granted as
django-guardian object permissions *on the tenant* (never per artifact). The constants are the
codenames; the product's upper-case names (``ARTIFACTS_MANAGEMENT_REQUESTS_READ`` ...) are the
permission names shown to administrators.
"""

VIEW_INTERACTIONS = "view_interactions"
ACCESS_CONTENT = "access_content"
ARTIFACTS_MANAGEMENT_REQUESTS_READ = "artifacts_management_requests_read"
ARTIFACTS_MANAGEMENT_REQUESTS_CREATE = "artifacts_management_requests_create"
ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS = "artifacts_management_remove_lock_requests"
ARTIFACTS_MANAGEMENT_DELETE_REQUESTS = "artifacts_management_delete_requests"
MANAGE_LIFECYCLE_POLICIES = "manage_lifecycle_policies"
MANAGE_MEMBERS = "manage_members"
VIEW_AUDIT = "view_audit"
MANAGE_INTEGRATIONS = "manage_integrations"
EXPORT_CONTENT = "export_content"

#: (codename, name) pairs, in the order they are shown; used for ``Tenant.Meta.permissions``.
TENANT_PERMISSIONS = (
    (VIEW_INTERACTIONS, "View interactions"),
    (ACCESS_CONTENT, "Play and download content"),
    (ARTIFACTS_MANAGEMENT_REQUESTS_READ, "ARTIFACTS_MANAGEMENT_REQUESTS_READ"),
    (ARTIFACTS_MANAGEMENT_REQUESTS_CREATE, "ARTIFACTS_MANAGEMENT_REQUESTS_CREATE"),
    (ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS, "ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS"),
    (ARTIFACTS_MANAGEMENT_DELETE_REQUESTS, "ARTIFACTS_MANAGEMENT_DELETE_REQUESTS"),
    (MANAGE_LIFECYCLE_POLICIES, "Manage Artifacts Lifecycle Policies"),
    (MANAGE_MEMBERS, "Manage users and roles"),
    (VIEW_AUDIT, "View and export the audit trail"),
    (MANAGE_INTEGRATIONS, "Manage integrations (ACD connections)"),
    (EXPORT_CONTENT, "Export content (verified export bundles)"),
)
TENANT_PERMISSION_CODENAMES = tuple(codename for codename, _ in TENANT_PERMISSIONS)
#: The product's name of each permission, for messages (``ARTIFACTS_MANAGEMENT_DELETE_REQUESTS`` ...).
PERMISSION_NAMES = {codename: codename.upper() for codename in TENANT_PERMISSION_CODENAMES}

#: Capabilities no role grants: support staff (superusers), operator commands and system jobs hold
#: them. MANAGE_TENANTS changes a tenant's own settings (time zone, lock limit); INGEST_CONTENT
#: creates and corrects interactions and stores content (ingestion sources, seeding, support).
MANAGE_TENANTS = "manage_tenants"
INGEST_CONTENT = "ingest_content"
SUPPORT_CAPABILITIES = frozenset({MANAGE_TENANTS, INGEST_CONTENT})
PERMISSION_NAMES.update({MANAGE_TENANTS: "MANAGE_TENANTS (support staff)", INGEST_CONTENT: "INGEST_CONTENT"})
#: Everything: what an active superuser or an operator command holds on every tenant.
ALL_GRANTS = frozenset(TENANT_PERMISSION_CODENAMES) | SUPPORT_CAPABILITIES

#: Each permission in plain words, for people (the codename stays secondary text).
PERMISSION_PLAIN = {
    VIEW_INTERACTIONS: "View interactions",
    ACCESS_CONTENT: "Play and download content",
    ARTIFACTS_MANAGEMENT_REQUESTS_READ: "See Artifacts Management Requests",
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE: "Create Artifacts Management Requests (Add Lock)",
    ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS: "Release locks (Remove Lock requests)",
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS: "Delete content (Delete requests)",
    MANAGE_LIFECYCLE_POLICIES: "Manage Artifacts Lifecycle Policies",
    MANAGE_MEMBERS: "Manage users and roles",
    VIEW_AUDIT: "View and export the audit trail",
    MANAGE_INTEGRATIONS: "Manage integrations (ACD connections)",
    EXPORT_CONTENT: "Export content (verified export bundles)",
}

#: Help text for each permission on the Users & Roles page.
PERMISSION_HELP = {
    VIEW_INTERACTIONS: "Find interactions and see their artifacts and audit trail.",
    ACCESS_CONTENT: "Play and download recordings, transcripts and emails.",
    ARTIFACTS_MANAGEMENT_REQUESTS_READ: "See Artifacts Management Requests and their results.",
    ARTIFACTS_MANAGEMENT_REQUESTS_CREATE: "Create and cancel Artifacts Management Requests (Add Lock).",
    ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS: "Also save requests that contain Remove Lock.",
    ARTIFACTS_MANAGEMENT_DELETE_REQUESTS: "Also save requests that contain Delete.",
    MANAGE_LIFECYCLE_POLICIES: "Create, edit and disable Artifacts Lifecycle Policies.",
    MANAGE_MEMBERS: "Add and remove users, change their roles, edit roles.",
    VIEW_AUDIT: "See the tenant's whole audit trail and its chain status; export it (CSV, verifiable bundle).",
    MANAGE_INTEGRATIONS: "Connect contact-center systems (Twilio Flex ACDs): credentials, ingestion, webhooks.",
    EXPORT_CONTENT: "Export interactions' content as signed zip bundles (Configuration > Exports, API, command) "
    "and download them.",
}

VIEWER = "Viewer"
SUPERVISOR = "Supervisor"
COMPLIANCE_OFFICER = "Compliance Officer"
ADMINISTRATOR = "Administrator"

#: The roles every tenant starts with; an Administrator may edit them afterwards.
DEFAULT_ROLES = {
    VIEWER: (VIEW_INTERACTIONS, ACCESS_CONTENT),
    SUPERVISOR: (
        VIEW_INTERACTIONS,
        ACCESS_CONTENT,
        ARTIFACTS_MANAGEMENT_REQUESTS_READ,
        ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
    ),
    COMPLIANCE_OFFICER: (
        VIEW_INTERACTIONS,
        ACCESS_CONTENT,
        ARTIFACTS_MANAGEMENT_REQUESTS_READ,
        ARTIFACTS_MANAGEMENT_REQUESTS_CREATE,
        ARTIFACTS_MANAGEMENT_REMOVE_LOCK_REQUESTS,
        ARTIFACTS_MANAGEMENT_DELETE_REQUESTS,
        MANAGE_LIFECYCLE_POLICIES,
        VIEW_AUDIT,
        EXPORT_CONTENT,
    ),
    ADMINISTRATOR: TENANT_PERMISSION_CODENAMES,
}
