"""The export's zip as an HTTP response (the page and the API)."""

from django.http import StreamingHttpResponse

from artifacts.storage import tenant_storage


def stream_response(export):
    """The export's zip from the exports storage, streamed, as an attachment."""
    chunks = tenant_storage("exports", export.tenant_id).iter_bytes(export.storage_key, version=export.storage_version)
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Length"] = str(export.size)
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    response["X-Content-SHA256"] = export.sha256
    return response
