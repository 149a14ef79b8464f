"""Reading text artifacts for people: conversations, emails and categorization results.

Everything here turns stored bytes into plain Python values (strings, lists, dicts) that templates
render with Django's autoescaping; nothing returns HTML. An email's HTML part is never rendered:
when an email has no text part, its HTML is reduced to plain text by :class:`_TextExtractor`.

Content is read with a size cap (a huge or hostile file must not stall the page), and anything
unreadable becomes a :class:`Rendered` with a ``problem`` message instead of an exception.
"""

import email
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from core.vocabulary import ArtifactType, ContentKey

from .storage import ObjectMissing, StorageError, storage_of

log = logging.getLogger(__name__)

#: Largest JSON transcript / categorization result rendered on the page (bytes).
MAX_JSON_BYTES = 2 * 1024 * 1024
#: Largest email parsed, for the page and for downloading one attachment (attachments dominate).
MAX_EMAIL_BYTES = 15 * 1024 * 1024
#: Most characters of an email body and most messages / segments shown on the page.
MAX_BODY_CHARS = 100_000
MAX_MESSAGES = 2_000

CONVERSATION, CALL_TRANSCRIPT, EMAIL, CATEGORIZATION = "conversation", "call_transcript", "email", "categorization"


class ContentProblem(Exception):
    """The content cannot be shown; the message says why, in words for the user."""


class ContentUnavailable(ContentProblem):
    """The bytes could not be read from storage: ``missing`` when the storage has no such object
    (they are gone), otherwise the storage could not be reached (try again later)."""

    def __init__(self, message, *, missing):
        super().__init__(message)
        self.missing = missing


#: What a user is told when an artifact's bytes are not in its storage, or the storage cannot be read.
MISSING_MESSAGE = (
    "The content of this artifact is missing from storage: it cannot be shown, played or downloaded, and "
    "nothing was read. If it is being deleted, the deletion finishes on its own; otherwise tell your administrator."
)
UNREACHABLE_MESSAGE = "The content could not be read from storage just now; nothing was read. Try again later."


@dataclass
class Rendered:
    """What the detail page shows for one artifact: ``kind`` picks the partial, ``data`` its values.

    ``problem`` is set (and ``data`` empty) when the content is too large, unreadable or malformed.
    """

    kind: str
    data: dict = field(default_factory=dict)
    problem: str = ""

    @property
    def shown(self):
        """Whether content was actually shown to the user (and so is an audited read)."""
        return not self.problem

    @property
    def template(self):
        return f"interactions/_content_{self.kind}.html"


def render_kind(artifact):
    """Which renderer reads ``artifact`` on the detail page, or None (play / download only)."""
    if artifact.is_gone:
        return None
    key, kind = artifact.content_key, artifact.artifact_type
    if key == ContentKey.CATEGORIZATION_RESULT:
        return CATEGORIZATION
    if key == ContentKey.TRANSCRIPT:
        return CALL_TRANSCRIPT
    if key == ContentKey.CHAT_TRANSCRIPT or (
        kind == ArtifactType.MESSAGING_TRANSCRIPT and key != ContentKey.ATTACHMENT
    ):
        return CONVERSATION if _looks_json(artifact) else None
    if kind == ArtifactType.EMAIL and key != ContentKey.ATTACHMENT and _looks_email(artifact):
        return EMAIL
    return None


def _looks_json(artifact):
    return artifact.content_type.endswith("json") or artifact.filename.lower().endswith(".json")


def _looks_email(artifact):
    return artifact.content_type == "message/rfc822" or artifact.filename.lower().endswith(".eml")


def read_bytes(artifact, limit):
    """All of ``artifact``'s bytes when it has at most ``limit``; :class:`ContentProblem` otherwise."""
    if artifact.size > limit:
        raise ContentProblem(
            f"This file is {artifact.size / 1_048_576:.1f} MB; files over {limit // 1_048_576} MB are not "
            "shown here. Download it to read it."
        )
    try:
        chunks = storage_of(artifact).iter_bytes(artifact.storage_key, 0, None, version=artifact.storage_version)
        data = b"".join(chunks)
    except ObjectMissing as exc:
        log.warning("Artifact %s is stored but its bytes are missing: %s", artifact.pk, exc)
        raise ContentUnavailable(MISSING_MESSAGE, missing=True) from None
    except (StorageError, OSError) as exc:
        log.warning("Could not read artifact %s for rendering: %s", artifact.pk, exc)
        raise ContentUnavailable(UNREACHABLE_MESSAGE, missing=False) from None
    return data


def render_artifact(artifact):
    """A :class:`Rendered` for an artifact :func:`render_kind` names; never raises for bad content."""
    kind = render_kind(artifact)
    if kind is None:
        raise ValueError(f"Artifact {artifact.pk} has no on-page rendering.")
    try:
        if kind == EMAIL:
            data = email_view(parse_email(read_bytes(artifact, MAX_EMAIL_BYTES)))
        else:
            document = parse_json(read_bytes(artifact, MAX_JSON_BYTES))
            data = {CONVERSATION: conversation, CALL_TRANSCRIPT: call_transcript, CATEGORIZATION: categorization}[kind](
                document
            )
    except ContentProblem as exc:
        return Rendered(kind, problem=str(exc))
    except Exception:  # a malformed file must cost the user a message, never the page
        log.exception("Rendering artifact %s (%s) failed", artifact.pk, kind)
        return Rendered(kind, problem="This content is malformed and cannot be shown. Download it to inspect it.")
    return Rendered(kind, data=data)


# --- JSON documents ------------------------------------------------------------------------------
def parse_json(data):
    """The JSON document in ``data`` (UTF-8, BOM tolerated), or :class:`ContentProblem`."""
    try:
        return json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        raise ContentProblem("This content is not valid JSON and cannot be shown. Download it to inspect it.") from None


def _text(value, limit=10_000):
    """A scalar as display text (lists / objects as JSON), cut to ``limit`` characters."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:
        text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"


def _first(item, *keys):
    for key in keys:
        if item.get(key) not in (None, ""):
            return item[key]
    return None


def _when(value):
    """A message's time stamp as ``(instant, original text)``: an ISO 8601 time becomes an aware
    datetime (one without an offset is read as UTC, as exports write them), shown in the tenant's zone
    by the page with the original text on hover; anything else stays text."""
    original = _text(value, 100)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return original, original
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), original
    return original, original


def _attachment_names(value):
    """The names of a message's attachments (strings, or objects with a name / filename / url)."""
    names = []
    for item in value if isinstance(value, list) else [value] if value else []:
        if isinstance(item, dict):
            item = _first(item, "filename", "name", "title", "url") or "attachment"
        names.append(_text(item, 300))
    return names


def conversation(document):
    """A messaging transcript (chat, SMS, WhatsApp, Messenger) as ``{"channel", "messages"}``.

    Each message is ``{"time", "speaker", "role", "text", "attachments"}``; the common spellings of
    those keys in exported transcripts are accepted (``at`` / ``timestamp``, ``author`` / ``from``).
    """
    messages = document.get("messages") if isinstance(document, dict) else document
    if not isinstance(messages, list):
        raise ContentProblem("This transcript has no list of messages and cannot be shown.")
    rows = []
    for item in messages[:MAX_MESSAGES]:
        if not isinstance(item, dict):
            raise ContentProblem("This transcript's messages are not in a readable form.")
        role = _text(_first(item, "from", "role", "direction"), 40).lower()
        when = _when(_first(item, "at", "timestamp", "time", "date_created", "dateCreated"))
        rows.append(
            {
                "time": when[0],
                "time_original": when[1],
                "speaker": _text(_first(item, "author", "sender", "name", "from") or "Unknown", 200),
                "role": role if role in ("agent", "customer", "system", "bot") else "",
                "text": _text(_first(item, "text", "body", "message")),
                "attachments": _attachment_names(_first(item, "attachments", "media")),
            }
        )
    channel = document.get("channel", "") if isinstance(document, dict) else ""
    return {"channel": _text(channel, 40), "messages": rows, "truncated": len(messages) > MAX_MESSAGES}


def _offset(seconds):
    try:
        seconds = int(float(seconds))
    except (TypeError, ValueError):
        return ""
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def call_transcript(document):
    """Speech-to-text of a call (``{"language", "segments": [{"start", "speaker", "text"}]}``)."""
    segments = document.get("segments") if isinstance(document, dict) else None
    if not isinstance(segments, list):
        raise ContentProblem("This transcript has no list of segments and cannot be shown.")
    rows = []
    for item in segments[:MAX_MESSAGES]:
        if not isinstance(item, dict):
            raise ContentProblem("This transcript's segments are not in a readable form.")
        role = _text(item.get("speaker"), 40).lower()
        rows.append(
            {
                "time": _offset(item.get("start")),
                "time_original": "",
                "speaker": _text(item.get("speaker") or "Unknown", 200).capitalize(),
                "role": role if role in ("agent", "customer") else "",
                "text": _text(item.get("text")),
                "attachments": [],
            }
        )
    return {
        "language": _text(document.get("language"), 40),
        "messages": rows,
        "truncated": len(segments) > MAX_MESSAGES,
    }


def _label(key):
    """``silence_ratio`` / ``silenceRatio`` → ``Silence ratio``."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", str(key)).replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:].lower()) if words else "—"


def _summary(value, depth=0):
    """A value as one readable line: lists joined, objects as ``key: value`` pairs."""
    if isinstance(value, dict):
        if depth > 3:
            return "…"
        name_key = next((k for k in ("name", "label", "category", "title") if value.get(k) not in (None, "")), None)
        if name_key is not None:
            rest = [f"{_label(k).lower()} {_summary(v, depth + 1)}" for k, v in value.items() if k != name_key]
            return _text(value[name_key], 300) + (f" ({', '.join(rest)})" if rest else "")
        return ", ".join(f"{_label(k)}: {_summary(v, depth + 1)}" for k, v in value.items())
    if isinstance(value, list):
        if depth > 3:
            return "…"
        joiner = "; " if any(isinstance(v, dict | list) for v in value) else ", "
        return joiner.join(_summary(v, depth + 1) for v in value[:200]) + (" …" if len(value) > 200 else "")
    return _text(value, 1_000)


def categorization(document):
    """Speech-analytics results as ``{"rows": [(label, [lines])]}``: one row per top-level key."""
    if not isinstance(document, dict):
        raise ContentProblem("This categorization result is not an object of named results and cannot be shown.")
    rows = []
    for key, value in list(document.items())[:200]:
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            lines = [_summary(v) for v in value[:200]]
        elif isinstance(value, dict):
            lines = [f"{_label(k)}: {_summary(v, 1)}" for k, v in value.items()]
        else:
            lines = [_summary(value)]
        rows.append({"label": _label(key), "lines": lines or ["—"]})
    return {"rows": rows}


# --- Email ---------------------------------------------------------------------------------------
def parse_email(data):
    """The :class:`~email.message.EmailMessage` in ``data`` (RFC 5322 bytes)."""
    message = email.message_from_bytes(data, policy=policy.default)
    # Without any of the headers every email has, this is not an email (a wrong file, a broken export).
    if not any(name in message for name in ("From", "To", "Subject", "Date", "Message-ID")):
        raise ContentProblem("This email is empty or not in email (.eml) format and cannot be shown.")
    return message


def _header(message, name):
    try:
        value = message.get(name)
        text = "" if value is None else str(value)
    except Exception:  # a header the parser cannot decode: show it raw rather than fail
        text = next((raw for key, raw in message.raw_items() if key.lower() == name.lower()), "")
    return _text(text, 2_000)


def _part_text(part):
    """A text part's content as a string, whatever its (possibly unknown) charset."""
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AttributeError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


class _TextExtractor(HTMLParser):
    """HTML reduced to its visible text: script / style contents dropped, blocks as new lines."""

    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote", "pre", "hr"}
    HIDDEN = {"script", "style", "head", "title", "template", "noscript"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html):
    """The readable text of an HTML document (for display as text: the result is not HTML-safe)."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    text = re.sub(r"[ \t\r\f\v]+", " ", "".join(extractor.parts))
    return re.sub(r"\n\s*\n\s*\n+", "\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def _body(message):
    """``(text, source)``: the text/plain body, else the HTML body as text, else nothing."""
    try:
        plain = message.get_body(preferencelist=("plain",))
        if plain is not None:
            return _part_text(plain), "text"
        html = message.get_body(preferencelist=("html",))
        if html is not None:
            return html_to_text(_part_text(html)), "html"
    except (KeyError, AttributeError):
        pass
    if not message.is_multipart() and message.get_content_maintype() == "text":
        return _part_text(message), "text"
    return "", ""


def email_attachments(message):
    """The email's attachments in MIME order: parts with an attachment disposition or a file name.

    Their position in this list is the ``<n>`` of the attachment download URL.
    """
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        if disposition == "attachment" or (part.get_filename() and disposition != "inline"):
            found.append(part)
    return found


def attachment_filename(part, position):
    """A safe file name for attachment ``position`` (no path, no control characters)."""
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = re.sub(r"[\x00-\x1f\x7f/\\]", "_", str(name)).strip(" .")[:200]
    return name or f"attachment-{position + 1}"


def attachment_payload(part):
    """The decoded bytes of an attachment part."""
    payload = part.get_payload(decode=True)
    if payload is None:  # e.g. a message/rfc822 part: offer it as the bytes of that message
        inner = part.get_payload()
        payload = inner[0].as_bytes() if isinstance(inner, list) and inner else b""
    return payload


def _email_date(value):
    """An email's ``Date`` header as an aware datetime (``-0000``: UTC), or None when unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def email_view(message):
    """Headers, body text and attachments of an email, for the page."""
    text, source = _body(message)
    truncated = len(text) > MAX_BODY_CHARS
    attachments = []
    for n, part in enumerate(email_attachments(message)):
        payload = part.get_payload(decode=True)
        attachments.append(
            {
                "position": n,
                "filename": attachment_filename(part, n),
                "content_type": part.get_content_type(),
                "size": len(payload) if payload is not None else None,
            }
        )
    headers = [(name, _header(message, name)) for name in ("From", "To", "Cc", "Date", "Subject")]
    date_header = _header(message, "Date")
    return {
        # The Date header as an instant, shown in the tenant's zone with the header itself on hover.
        "date": _email_date(date_header),
        "date_original": date_header,
        "headers": [(name, value) for name, value in headers if value or name in ("From", "To", "Subject")],
        "subject": _header(message, "Subject"),
        "body": text[:MAX_BODY_CHARS],
        "body_source": source,
        "truncated": truncated,
        "attachments": attachments,
    }


def open_email_attachment(artifact, position):
    """``(filename, content_type, bytes)`` of attachment ``position`` of an email artifact.

    Raises :class:`ContentProblem` when the artifact is not a readable email or has no such
    attachment.
    """
    if render_kind(artifact) != EMAIL:
        raise ContentProblem("This artifact is not an email.")
    message = parse_email(read_bytes(artifact, MAX_EMAIL_BYTES))
    try:
        part = email_attachments(message)[position]
        return attachment_filename(part, position), part.get_content_type(), attachment_payload(part)
    except IndexError:
        raise ContentProblem(f"This email has no attachment {position + 1}.") from None
    except Exception:  # a malformed MIME part: a message for the user, not a 500
        log.exception("Reading attachment %s of artifact %s failed", position, artifact.pk)
        raise ContentProblem("This attachment is malformed and cannot be extracted.") from None
