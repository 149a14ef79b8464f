"""A fake Twilio on loopback: a threaded HTTP server speaking Twilio's documented JSON for what the
ingestion uses, driven in tests through the official ``twilio`` library (``TWILIO_API_BASE_URL``).

Resources (paths as Twilio's own domains have them):

- api (2010-04-01): ``Accounts/{AC}.json``; ``Accounts/{AC}/Recordings.json`` (``CallSid``,
  ``ConferenceSid``; paged with ``next_page_uri``); ``Recordings/{RE}.json`` (GET, DELETE → 204);
  ``Recordings/{RE}.wav`` (the media); ``Conferences/{CF}/Participants.json``;
- taskrouter (v1): ``Workspaces/{WS}``; ``Workspaces/{WS}/Events`` (``EventType``, ``StartDate``,
  ``EndDate``, ``TaskSid``; newest first; paged with ``meta.next_page_url``);
- conversations (v1): ``Conversations/{CH}/Messages`` (paged with ``meta``).

HTTP Basic authentication as Twilio checks it (account SID and auth token; 401 with error 20003
otherwise), Twilio's error bodies (``code``, ``message``, ``more_info``, ``status``), and injected
faults: ``fail_next(...)`` answers 429 (error 20429, ``Retry-After``) or a 5xx a number of times;
``hold_media(sid)`` keeps a recording's download open until ``release()``. Every request is logged.
"""

import base64
import itertools
import json
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_counter = itertools.count(1)


def sid(prefix):
    """A fresh SID: two letters and 32 hexadecimal digits."""
    return f"{prefix}{next(_counter):08x}{os.urandom(12).hex()}"


def iso(when):
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc2822(when):
    return format_datetime(when.astimezone(UTC), usegmt=True)


def new_rsa_key(bits=2048):
    """``(private key, PKCS#8 PEM text)`` of a fresh RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return key, pem.decode()


def encrypt_recording(plain, public_key, public_key_sid):
    """What Twilio stores for an encrypted recording: ``(media, encryption_details)``."""
    cek, iv = os.urandom(32), os.urandom(12)
    media = AESGCM(cek).encrypt(iv, plain, None)  # ciphertext || 16-byte tag
    wrapped = public_key.encrypt(
        cek, padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    )
    details = {
        "type": "rsa-aes",
        "public_key_sid": public_key_sid,
        "encrypted_cek": base64.b64encode(wrapped).decode(),
        "iv": base64.b64encode(iv).decode(),
    }
    return media, details


def wav(seconds=0.5, rate=8000, seed=0):
    """A small valid WAV (8 kHz mono 16-bit)."""
    import io
    import math
    import struct
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = int(seconds * rate)
        freq = 440 + 40 * seed
        out.writeframes(
            b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / rate))) for n in range(frames))
        )
    return buffer.getvalue()


class FakeTwilio:
    """The server and its state. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, account_sid=None, auth_token="fake-token-0123456789", workspace_sid=None):
        self.account_sid = account_sid or sid("AC")
        self.auth_token = auth_token
        self.workspace_sid = workspace_sid or sid("WS")
        self.accounts = {self.account_sid: auth_token}
        self.workspaces = {self.workspace_sid: "Flex Task Assignment"}
        self.events = []
        self.recordings = {}
        self.media = {}
        self.participants = {}
        self.messages = {}
        self.faults = []
        self.held = {}
        self.log = []
        self.lock = threading.Lock()
        self.server = None

    # --- life ---------------------------------------------------------------------------------------
    def start(self):
        fake = self

        class Handler(_Handler):
            twilio = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.release()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    # --- faults -------------------------------------------------------------------------------------
    def fail_next(self, path_contains, status=429, times=1, retry_after=None, method="GET"):
        """Answer the next ``times`` matching requests with ``status`` (429: Twilio error 20429)."""
        with self.lock:
            self.faults.append(
                {"path": path_contains, "status": status, "times": times, "retry_after": retry_after, "method": method}
            )

    def hold_media(self, recording_sid):
        """Keep the download of ``recording_sid`` open (headers and half the bytes sent) until released."""
        self.held[recording_sid] = threading.Event()

    def release(self):
        for event in self.held.values():
            event.set()

    def requests_to(self, pattern, method=None):
        return [r for r in self.log if re.search(pattern, r["path"]) and (method is None or r["method"] == method)]

    # --- building a contact center --------------------------------------------------------------------
    def add_event(self, event_type, when, data, resource_sid=""):
        event = {
            "account_sid": self.account_sid,
            "actor_sid": data.get("worker_sid") or data.get("task_sid"),
            "actor_type": "worker" if data.get("worker_sid") else "task",
            "actor_url": None,
            "description": f"{event_type} event",
            "event_data": data,
            "event_date": iso(when),
            "event_date_ms": int(when.timestamp() * 1000),
            "event_type": event_type,
            "resource_sid": resource_sid or data.get("task_sid"),
            "resource_type": "task",
            "resource_url": None,
            "sid": sid("EV"),
            "source": "twilio",
            "source_ip_address": "127.0.0.1",
            "url": None,
            "workspace_sid": self.workspace_sid,
        }
        self.events.append(event)
        return event

    def add_recording(
        self,
        *,
        call_sid="",
        conference_sid="",
        source="DialVerb",
        status="completed",
        media=None,
        encrypt_for=None,
        channels=1,
        when=None,
    ):
        """A recording with its media (``encrypt_for=(public key, CR sid)`` encrypts it as Twilio does)."""
        recording_sid = sid("RE")
        when = when or datetime.now(UTC) - timedelta(minutes=5)
        plain = media if media is not None else wav(seed=len(self.recordings))
        details = None
        stored = plain
        if encrypt_for is not None:
            stored, details = encrypt_recording(plain, *encrypt_for)
        self.recordings[recording_sid] = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "call_sid": call_sid or None,
            "conference_sid": conference_sid or None,
            "date_created": rfc2822(when),
            "date_updated": rfc2822(when),
            "start_time": rfc2822(when),
            "duration": "4",
            "sid": recording_sid,
            "price": "-0.0025",
            "price_unit": "USD",
            "status": status,
            "channels": channels,
            "source": source,
            "error_code": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}.json",
            "encryption_details": details,
            "subresource_uris": {},
            "media_url": f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/{recording_sid}",
        }
        self.media[recording_sid] = stored
        return recording_sid, plain

    def add_voice_task(
        self,
        *,
        when=None,
        worker_name="alice",
        full_name="Alice Smith",
        attributes=None,
        recordings=True,
        encrypt_for=None,
        queue="Support",
        canceled=False,
    ):
        """A completed Flex voice task: its call, its conference with a customer and a worker leg, the
        reservation its worker accepted, and (``recordings``) a recording of each leg and of the
        conference. Returns a dict of the SIDs and the plain media by recording SID."""
        when = when or datetime.now(UTC) - timedelta(minutes=2)
        task, call, worker_call, conference, worker = sid("WT"), sid("CA"), sid("CA"), sid("CF"), sid("WK")
        attrs = {
            "from": "+15551230001",
            "to": "+15559870000",
            "direction": "inbound",
            "call_sid": call,
            "channelType": "voice",
            "conference": {"sid": conference, "participants": {"customer": call, "worker": worker_call}},
            "customers": {"segment": "gold", "region": {"name": "west"}},
        }
        attrs.update(attributes or {})
        data = self._task_data(task, attrs, when, "voice", queue)
        self.add_event(
            "reservation.accepted",
            when - timedelta(seconds=60),
            {
                **data,
                "worker_sid": worker,
                "worker_name": worker_name,
                "worker_attributes": json.dumps({"full_name": full_name, "contact_uri": f"client:{worker_name}"}),
                "reservation_sid": sid("WR"),
            },
        )
        self.add_event("task.canceled" if canceled else "task.completed", when, data)
        self.participants[conference] = [
            self._participant(conference, call, "customer", when),
            self._participant(conference, worker_call, "worker", when),
        ]
        plain = {}
        if recordings:
            for leg, kwargs in (
                ("customer", {"call_sid": call}),
                ("worker", {"call_sid": worker_call}),
                ("conference", {"call_sid": call, "conference_sid": conference, "source": "Conference"}),
            ):
                recording_sid, media = self.add_recording(encrypt_for=encrypt_for, when=when, **kwargs)
                plain[recording_sid] = media
                plain[leg] = recording_sid
        return {
            "task": task,
            "call": call,
            "worker_call": worker_call,
            "conference": conference,
            "worker": worker,
            "media": plain,
        }

    def add_chat_task(self, *, when=None, worker_name="bob", full_name="Bob Jones", channel_type="web", texts=None):
        """A completed Flex chat task with its conversation's messages."""
        when = when or datetime.now(UTC) - timedelta(minutes=2)
        task, conversation, worker = sid("WT"), sid("CH"), sid("WK")
        attrs = {
            "from": "Carla",
            "customerName": "Carla",
            "direction": "inbound",
            "channelType": channel_type,
            "conversationSid": conversation,
        }
        data = self._task_data(task, attrs, when, "chat", "Chat")
        self.add_event(
            "reservation.accepted",
            when - timedelta(seconds=30),
            {
                **data,
                "worker_sid": worker,
                "worker_name": worker_name,
                "worker_attributes": json.dumps({"full_name": full_name}),
                "reservation_sid": sid("WR"),
            },
        )
        self.add_event("task.completed", when, data)
        texts = texts or [
            ("Carla", "Hello, my parcel is late."),
            (worker_name, "Let me check that for you."),
            ("Carla", "Thanks!"),
        ]
        self.messages[conversation] = [
            {
                "account_sid": self.account_sid,
                "conversation_sid": conversation,
                "sid": sid("IM"),
                "index": n,
                "author": author,
                "body": body,
                "media": None,
                "attributes": "{}",
                "participant_sid": sid("MB"),
                "date_created": iso(when - timedelta(seconds=60 - n * 10)),
                "date_updated": iso(when - timedelta(seconds=60 - n * 10)),
                "url": f"https://conversations.twilio.com/v1/Conversations/{conversation}/Messages/{n}",
                "delivery": None,
                "links": {},
                "content_sid": None,
            }
            for n, (author, body) in enumerate(texts)
        ]
        return {"task": task, "conversation": conversation, "worker": worker}

    def _task_data(self, task, attrs, when, channel, queue):
        return {
            "task_sid": task,
            "task_attributes": json.dumps(attrs),
            "task_age": 185,
            "task_date_created": iso(when - timedelta(seconds=185)),
            "task_priority": 0,
            "task_assignment_status": "completed",
            "task_completed_reason": "Task completed",
            "task_queue_sid": "WQ" + "0" * 32,
            "task_queue_name": queue,
            "task_channel_sid": "TC" + "0" * 32,
            "task_channel_unique_name": channel,
            "workflow_sid": "WW" + "0" * 32,
            "workspace_sid": self.workspace_sid,
        }

    def _participant(self, conference, call, label, when):
        return {
            "account_sid": self.account_sid,
            "call_sid": call,
            "label": label,
            "call_sid_to_coach": None,
            "coaching": False,
            "conference_sid": conference,
            "date_created": rfc2822(when),
            "date_updated": rfc2822(when),
            "end_conference_on_exit": label == "customer",
            "muted": False,
            "hold": False,
            "start_conference_on_enter": True,
            "status": "connected",
            "queue_time": "0",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Conferences/{conference}/Participants/{call}.json",
        }


def _error(status, code, message):
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    twilio = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=None, headers=None, raw=None, content_type="application/json"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if status != 204:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _authorised(self, account_sid):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return self.twilio.accounts.get(user) == password and user == account_sid

    def do_GET(self):
        self._dispatch("GET")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method):
        fake = self.twilio
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        fake.log.append({"method": method, "path": parts.path, "query": query, "at": time.monotonic()})
        with fake.lock:
            for fault in fake.faults:
                if fault["times"] > 0 and fault["path"] in parts.path and fault["method"] == method:
                    fault["times"] -= 1
                    status = fault["status"]
                    headers = {"Retry-After": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
                    code = 20429 if status == 429 else 20500
                    message = "Too Many Requests" if status == 429 else "Internal Server Error"
                    self._send(status, _error(status, code, message)[1], headers)
                    return
        status, body, extra = self._route(method, parts.path, query)
        if extra is not None:
            return
        self._send(status, body)

    def _route(self, method, path, query):
        fake = self.twilio
        m = re.match(r"^/2010-04-01/Accounts/(AC\w{32})(.*)$", path)
        if m:
            account, rest = m.groups()
            if not self._authorised(account):
                return (*_error(401, 20003, "Authenticate"), None)
            return self._api(method, account, rest, query)
        m = re.match(r"^/v1/Workspaces/(WS\w{32})(/Events)?$", path)
        if m:
            if not any(self._authorised(a) for a in fake.accounts):
                return (*_error(401, 20003, "Authenticate"), None)
            workspace, events = m.groups()
            if workspace not in fake.workspaces:
                return (*_error(404, 20404, f"The requested resource /Workspaces/{workspace} was not found"), None)
            if events:
                return (200, self._events(workspace, query), None)
            return (200, self._workspace(workspace), None)
        m = re.match(r"^/v1/Conversations/(CH\w{32})/Messages$", path)
        if m:
            if not any(self._authorised(a) for a in fake.accounts):
                return (*_error(401, 20003, "Authenticate"), None)
            conversation = m.group(1)
            if conversation not in fake.messages:
                return (*_error(404, 20404, "The requested resource was not found"), None)
            return (
                200,
                self._v1_page(
                    fake.messages[conversation],
                    "messages",
                    f"https://conversations.twilio.com/v1/Conversations/{conversation}/Messages",
                    query,
                ),
                None,
            )
        return (*_error(404, 20404, f"The requested resource {path} was not found"), None)

    def _api(self, method, account, rest, query):
        fake = self.twilio
        if rest == ".json":
            return (
                200,
                {
                    "sid": account,
                    "friendly_name": "Fake Flex account",
                    "status": "active",
                    "type": "Full",
                    "owner_account_sid": account,
                    "auth_token": None,
                    "date_created": rfc2822(datetime.now(UTC)),
                    "date_updated": rfc2822(datetime.now(UTC)),
                    "subresource_uris": {},
                    "uri": f"/2010-04-01/Accounts/{account}.json",
                },
                None,
            )
        if rest == "/Recordings.json":
            rows = [r for r in fake.recordings.values() if not r.get("_deleted")]
            if query.get("CallSid"):
                rows = [r for r in rows if r["call_sid"] == query["CallSid"]]
            if query.get("ConferenceSid"):
                rows = [r for r in rows if r["conference_sid"] == query["ConferenceSid"]]
            public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
            return (
                200,
                self._v2010_page(public, "recordings", f"/2010-04-01/Accounts/{account}/Recordings.json", query),
                None,
            )
        m = re.match(r"^/Recordings/(RE\w{32})\.(json|wav|mp3)$", rest)
        if m:
            recording_sid, ext = m.groups()
            recording = fake.recordings.get(recording_sid)
            if recording is None or recording.get("_deleted"):
                return (*_error(404, 20404, f"The requested resource /Recordings/{recording_sid} was not found"), None)
            if method == "DELETE":
                recording["_deleted"] = True
                return (204, None, None)
            if ext == "json":
                return (200, {k: v for k, v in recording.items() if not k.startswith("_")}, None)
            self._media(recording_sid)
            return (200, None, True)
        m = re.match(r"^/Conferences/(CF\w{32})/Participants\.json$", rest)
        if m:
            conference = m.group(1)
            if conference not in fake.participants:
                return (*_error(404, 20404, "The requested resource was not found"), None)
            return (
                200,
                self._v2010_page(
                    fake.participants[conference],
                    "participants",
                    f"/2010-04-01/Accounts/{account}/Conferences/{conference}/Participants.json",
                    query,
                ),
                None,
            )
        return (*_error(404, 20404, "The requested resource was not found"), None)

    def _media(self, recording_sid):
        data = self.twilio.media[recording_sid]
        held = self.twilio.held.get(recording_sid)
        self.send_response(200)
        self.send_header("Content-Type", "audio/x-wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = 1 << 20
        half = len(data) // 2
        if held is not None:
            self.wfile.write(data[:half])
            self.wfile.flush()
            held.wait(120)
            data = data[half:]
        for start in range(0, len(data), step):
            try:
                self.wfile.write(data[start : start + step])
            except (BrokenPipeError, ConnectionResetError):
                return

    def _workspace(self, workspace):
        return {
            "account_sid": self.twilio.account_sid,
            "sid": workspace,
            "friendly_name": self.twilio.workspaces[workspace],
            "date_created": iso(datetime.now(UTC)),
            "date_updated": iso(datetime.now(UTC)),
            "default_activity_name": "Offline",
            "default_activity_sid": "WA" + "0" * 32,
            "event_callback_url": None,
            "events_filter": None,
            "links": {},
            "multi_task_enabled": True,
            "timeout_activity_name": "Offline",
            "timeout_activity_sid": "WA" + "0" * 32,
            "prioritize_queue_order": "FIFO",
            "url": f"https://taskrouter.twilio.com/v1/Workspaces/{workspace}",
        }

    def _events(self, workspace, query):
        rows = list(self.twilio.events)

        def parse(text):
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

        if query.get("EventType"):
            rows = [e for e in rows if e["event_type"] == query["EventType"]]
        if query.get("TaskSid"):
            rows = [e for e in rows if e["event_data"].get("task_sid") == query["TaskSid"]]
        if query.get("StartDate"):
            rows = [e for e in rows if parse(e["event_date"]) >= parse(query["StartDate"])]
        if query.get("EndDate"):
            rows = [e for e in rows if parse(e["event_date"]) <= parse(query["EndDate"])]
        rows.sort(key=lambda e: e["event_date_ms"], reverse=True)  # newest first, as TaskRouter lists them
        return self._v1_page(rows, "events", f"https://taskrouter.twilio.com/v1/Workspaces/{workspace}/Events", query)

    def _v1_page(self, rows, key, base, query):
        size = int(query.get("PageSize") or 50)
        offset = int(query.get("PageToken") or 0)
        page = rows[offset : offset + size]
        keep = {k: v for k, v in query.items() if k not in ("PageToken", "Page")}

        def url(at):
            return f"{base}?{urlencode({**keep, 'PageSize': size, 'Page': at // size, 'PageToken': at})}"

        return {
            key: page,
            "meta": {
                "page": offset // size,
                "page_size": size,
                "first_page_url": url(0),
                "previous_page_url": url(max(offset - size, 0)) if offset else None,
                "url": url(offset),
                "next_page_url": url(offset + size) if offset + size < len(rows) else None,
                "key": key,
            },
        }

    def _v2010_page(self, rows, key, base, query):
        size = int(query.get("PageSize") or 50)
        offset = int(query.get("PageToken") or 0)
        page = rows[offset : offset + size]
        keep = {k: v for k, v in query.items() if k not in ("PageToken", "Page")}

        def uri(at):
            return f"{base}?{urlencode({**keep, 'PageSize': size, 'Page': at // size, 'PageToken': at})}"

        return {
            key: page,
            "end": offset + len(page) - 1 if page else 0,
            "first_page_uri": uri(0),
            "next_page_uri": uri(offset + size) if offset + size < len(rows) else None,
            "page": offset // size,
            "page_size": size,
            "previous_page_uri": uri(max(offset - size, 0)) if offset else None,
            "start": offset,
            "uri": uri(offset),
        }
