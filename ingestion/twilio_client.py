"""The Twilio client Holdfast uses: the official ``twilio`` library with an HTTP client of ours.

twilio-python lets a caller hand in its own :class:`~twilio.http.HttpClient` (``Client(...,
http_client=...)``); every request of every domain goes through it. Ours, a subclass of the library's
``TwilioHttpClient``:

- sends every domain's requests to ``TWILIO_API_BASE_URL`` when it is set (the host is replaced,
  the domain's own path kept: ``/2010-04-01/Accounts/…``, ``/v1/Workspaces/…``,
  ``/v1/Conversations/…``), so tests and staging can point at a server of their own;
- retries 429 (Twilio error 20429) and 5xx answers and dropped connections with exponential backoff
  and jitter, honouring ``Retry-After`` (``TWILIO_MAX_RETRIES``, ``TWILIO_BACKOFF_SECONDS``);
- counts the calls it makes (the benchmark reports calls per recording);
- streams recording media (the library reads whole bodies into memory; recordings can be large).
"""

import contextlib
import email.utils
import json
import logging
import random
import time
import zlib
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from django.db import connection as db_connection
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

log = logging.getLogger(__name__)

API_BASE = "https://api.twilio.com"


def rebase(url, base_url):
    """``url`` with its scheme and host replaced by ``base_url``'s (whose path, if any, prefixes it)."""
    if not base_url:
        return url
    parts, base = urlsplit(url), urlsplit(base_url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, ""))


def _retry_after(headers, attempt):
    """Seconds to wait before attempt ``attempt + 1``: Twilio's Retry-After when it sent one (seconds
    or an HTTP date), else exponential backoff with full jitter; capped."""
    cap = settings.TWILIO_BACKOFF_MAX_SECONDS
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    if value:
        value = value.strip()
        if value.isdigit():
            return min(float(value), cap)
        with contextlib.suppress(TypeError, ValueError):
            when = email.utils.parsedate_to_datetime(value)
            return min(max(when.timestamp() - time.time(), 0.0), cap)
    return min(cap, settings.TWILIO_BACKOFF_SECONDS * (2**attempt)) * random.uniform(0.5, 1.0)


def _throttled(status, text):
    if status == 429 or status >= 500:
        return True
    if status >= 400 and text and "20429" in text[:400]:
        with contextlib.suppress(ValueError):
            return json.loads(text).get("code") == 20429
    return False


class TwilioUnreachable(Exception):
    """Twilio (or the server at ``TWILIO_API_BASE_URL``) could not be reached."""


class HoldfastHttpClient(TwilioHttpClient):
    """twilio-python's HTTP client, re-based, retrying, counting, and able to stream media."""

    def __init__(self, base_url=None, *, max_retries=None, sleep=time.sleep, timeout=None):
        super().__init__(timeout=timeout or settings.TWILIO_TIMEOUT_SECONDS)
        self.base_url = settings.TWILIO_API_BASE_URL if base_url is None else base_url
        self.max_retries = settings.TWILIO_MAX_RETRIES if max_retries is None else max_retries
        self.sleep = sleep
        self.calls = 0
        self.retries = 0

    def _attempts(self, send):
        """Call ``send()`` until it answers with something other than 429 / 5xx, or retries run out."""
        for attempt in range(self.max_retries + 1):
            self.calls += 1
            try:
                status, headers, text, result = send()
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt == self.max_retries:
                    raise TwilioUnreachable(str(exc)) from exc
                wait, reason = _retry_after({}, attempt), type(exc).__name__
            else:
                if not _throttled(status, text) or attempt == self.max_retries:
                    return result
                wait, reason = _retry_after(headers, attempt), f"HTTP {status}"
            self.retries += 1
            log.info("Twilio answered %s; retrying in %.1f s", reason, wait)
            self.sleep(wait)
        raise AssertionError("unreachable")

    def request(
        self, method, url, params=None, data=None, headers=None, auth=None, timeout=None, allow_redirects=False
    ):
        """The library's request, sent to the re-based URL, with retries (see the module)."""
        url = rebase(url, self.base_url)

        def send():
            response = TwilioHttpClient.request(
                self,
                method,
                url,
                params=params,
                data=data,
                headers=headers,
                auth=auth,
                timeout=timeout,
                allow_redirects=allow_redirects,
            )
            return response.status_code, response.headers, response.text, response

        return self._attempts(send)

    def stream(self, url, auth):
        """GET ``url`` (re-based) with Basic ``auth``, body not read yet: a ``requests`` response to
        iterate with ``iter_content``; the caller closes it. 429 / 5xx are retried first."""
        url = rebase(url, self.base_url)
        session = self.session or requests.Session()

        def send():
            response = session.get(url, auth=auth, stream=True, timeout=self.timeout, allow_redirects=True)
            if _throttled(response.status_code, "") or response.status_code == 400:
                text = response.text if response.status_code == 400 else ""
                response.close()
                return response.status_code, response.headers, text, response
            return response.status_code, response.headers, "", response

        return self._attempts(send)


def client_for(account_sid, auth_token, http_client=None):
    """A ``twilio.rest.Client`` for the account, over :class:`HoldfastHttpClient`."""
    return Client(account_sid, auth_token, http_client=http_client or HoldfastHttpClient())


def media_url(account_sid, recording_sid, extension="wav"):
    """Where a recording's audio is (Twilio's own host; :func:`rebase` applies when it is fetched)."""
    return f"{API_BASE}/2010-04-01/Accounts/{account_sid}/Recordings/{recording_sid}.{extension}"


# --- at most N downloads at once per account --------------------------------------------------------
_MEDIA_NAMESPACE = zlib.crc32(b"twilio_media_downloads") & 0x7FFFFFFF


@contextlib.contextmanager
def download_slot(account_sid, poll=0.2):
    """Hold one of ``TWILIO_MEDIA_CONCURRENCY`` download slots of the account while a recording is
    fetched (PostgreSQL advisory locks, shared by every worker); waits for a free one."""
    slots = settings.TWILIO_MEDIA_CONCURRENCY
    if db_connection.vendor != "postgresql" or slots <= 0:
        yield
        return
    base = (zlib.crc32(account_sid.encode()) & 0xFFFFFF) * 64
    keys = [base + i for i in range(min(slots, 64))]
    taken = None
    while taken is None:
        with db_connection.cursor() as cursor:
            for key in keys:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_MEDIA_NAMESPACE, key])
                if cursor.fetchone()[0]:
                    taken = key
                    break
        if taken is None:
            time.sleep(poll)
    try:
        yield
    finally:
        with db_connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_MEDIA_NAMESPACE, taken])
