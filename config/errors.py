"""Error pages: HTML for people, RFC 9457 problem details for the API (``/api/…``)."""

from django.views import defaults


def _api(request):
    return request.path.startswith("/api/")


def not_found(request, exception):
    """404: a problem for API paths, the product's page otherwise."""
    if _api(request):
        from api.problems import problem_response

        return problem_response(request, 404, "No such API endpoint or object.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    """500: a problem for API paths (never an HTML page there), the product's page otherwise."""
    if _api(request):
        from api.problems import problem_response

        return problem_response(request, 500, "An unexpected error; nothing is half done. Try again later.")
    return defaults.server_error(request)
