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
