"""OpenAPI for what drf-spectacular cannot see by itself: our OAuth2 client-credentials scheme."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .scopes import SCOPES


class ClientCredentialsScheme(OpenApiAuthenticationExtension):
    """``api.auth.ClientAuthentication`` as an OAuth2 client-credentials security scheme."""

    target_class = "api.auth.ClientAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        return {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/api/oauth/token/", "scopes": SCOPES}},
        }

    def get_security_requirement(self, auto_schema):
        view = auto_schema.view
        return {self.name: list(view.scopes_for(auto_schema.method))}


PROBLEM_TYPE = "application/problem+json"
#: Errors every authenticated operation may answer, whatever its own: a bad parameter (e.g. a NUL),
#: no or a revoked token, a missing scope, an unknown object, an unacceptable Accept header, a limit.
COMMON_ERRORS = {
    "400": "Bad input: `errors` names each field.",
    "401": "No valid bearer token (client credentials at /api/oauth/token/).",
    "403": "The token lacks the scope the operation needs (named in `detail`).",
    "404": "No such object in the client's tenant.",
    "406": "The Accept header asks for a representation the API does not offer.",
    "429": "A rate limit (per client, per tenant) or a batch already running: nothing was done; see Retry-After.",
}
#: Further errors of operations with a body.
BODY_ERRORS = {
    "413": "The request body is too large.",
    "415": "The body is not JSON (Content-Type: application/json).",
}
DESCRIPTIONS = {
    "409": "Conflict: the content is locked (the problem names the locks) or the key names several artifacts.",
    "410": "The content was deleted.",
    **COMMON_ERRORS,
    **BODY_ERRORS,
}
#: Path parameters as the contract names them (the URL patterns use Python names).
PATH_NAMES = {"content_key": "contentKey", "request_id": "id", "artifact_id": "id"}
RATE_HEADERS = {
    "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait."},
}


def problem_responses(result, generator, request, public):
    """drf-spectacular post-processing hook: every error of ``/api/v1/`` is documented, as
    ``application/problem+json`` with the Problem schema; 429 carries ``Retry-After``; path
    parameters carry the contract's names (``{contentKey}``, ``{id}``)."""
    problem = {"$ref": "#/components/schemas/Problem"}
    paths = {}
    for path, operations in result.get("paths", {}).items():
        for python_name, name in PATH_NAMES.items():
            path = path.replace(f"{{{python_name}}}", f"{{{name}}}")
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    parameter["name"] = PATH_NAMES.get(parameter["name"], parameter["name"])
            responses = operation.setdefault("responses", {})
            authenticated = bool(operation.get("security")) and operation["security"] != [{}]
            extra = dict(COMMON_ERRORS) if authenticated else {"400": COMMON_ERRORS["400"]}
            if "requestBody" in operation:
                extra.update(BODY_ERRORS)
            for code, description in extra.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = {PROBLEM_TYPE: {"schema": problem}}
                    response["description"] = response.get("description") or DESCRIPTIONS.get(code, "An error.")
                if code == "429":
                    response["headers"] = RATE_HEADERS
        paths[path] = operations
    result["paths"] = paths
    return result
