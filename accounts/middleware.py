"""Responses of tenant pages are never stored by a browser or a shared cache."""

from django.utils.cache import patch_cache_control

#: Every tenant page, and every export or download of one, lives under this prefix (config/urls.py).
TENANT_PREFIX = "/t/"


class TenantPagesPrivateMiddleware:
    """``Cache-Control: private, no-store`` on every response under ``/t/<slug>/``.

    A tenant's pages, CSV exports and content are one person's view of confidential data: a proxy
    must not keep them and the browser must not keep them on disk for the next user of the machine
    (the back button then asks the server again, which checks the grants again). Done here rather
    than in the views so that error pages, redirects and streamed exports are covered as well.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith(TENANT_PREFIX):
            patch_cache_control(response, private=True, no_store=True)
        return response
