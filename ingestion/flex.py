"""What a Twilio Flex task means in Holdfast's words: the interaction's fields, the recording types
of its legs, and the messaging transcript of its conversation.

**Interactions.** A task of TaskRouter (``task.completed`` / ``task.canceled`` events) is one
interaction, idempotent by its task SID: channel from the task channel (``voice``; ``chat`` / ``sms``
refined by the ``channelType`` attribute: SMS, WhatsApp, Messenger or Chat), direction from the
``direction`` attribute (``outbound-…`` is outbound), origin Queue (TaskRouter routed it), from / to
from the ``from`` / ``to`` (or ``called``) attributes, the agent from the reservation the worker
accepted (named per the connection's Agent Name Format from the worker's ``full_name`` attribute or
its friendly name), start = the task's creation, end = the event, duration = the task's age. The
queue and the Twilio ids (conference, conversation) go to custom metadata with the mapped task
attributes.

**Recording types** (document of the mapping):

=================================================  =====================
recording                                          audio recording type
=================================================  =====================
the conference's own recording (``ConferenceSid``)  Conference Customer
the task's call / the customer's participant leg    Conference Customer
the worker's participant leg (the agent)            Conference Agent
any other participant (transfer, external party)    Conference External
a ``RecordVerb`` recording of the IVR               IVR Snippet
=================================================  =====================
"""

import json
from datetime import UTC, datetime

from core.vocabulary import AudioRecordingType, Channel, Direction, Origin

TASK_EVENTS = ("task.completed", "task.canceled")
RESERVATION_EVENT = "reservation.accepted"

_CHANNEL_TYPES = {
    "sms": Channel.SMS,
    "whatsapp": Channel.WHATSAPP,
    "messenger": Channel.MESSENGER,
    "facebook": Channel.MESSENGER,
    "web": Channel.CHAT,
    "chat": Channel.CHAT,
    "webchat": Channel.CHAT,
}


def attributes_of(event_data):
    """The task's attributes (a JSON text in the event) as a dict; {} when unreadable."""
    raw = event_data.get("task_attributes") or "{}"
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def channel_of(event_data, attributes):
    """The interaction channel of a task (None: a channel Holdfast does not ingest)."""
    task_channel = (event_data.get("task_channel_unique_name") or "").lower()
    channel_type = str(attributes.get("channelType") or "").lower()
    if task_channel == "voice" or (not task_channel and attributes.get("call_sid")):
        return Channel.VOICE
    if task_channel in ("chat", "sms", "default", "") and (channel_type or attributes.get("conversationSid")):
        return _CHANNEL_TYPES.get(channel_type, Channel.SMS if task_channel == "sms" else Channel.CHAT)
    if task_channel == "sms":
        return Channel.SMS
    if task_channel == "chat":
        return Channel.CHAT
    if task_channel == "email":
        return Channel.EMAIL
    if task_channel == "video":
        return Channel.VIDEO
    return None


def direction_of(attributes):
    direction = str(attributes.get("direction") or "inbound").lower()
    return Direction.OUTBOUND if direction.startswith("outbound") else Direction.INBOUND


def agent_name(worker, name_format):
    """The worker's name per Agent Name Format (``first_last``, ``last_first``, ``friendly_name``)."""
    if not worker:
        return ""
    friendly = worker.get("worker_name") or ""
    try:
        attributes = json.loads(worker.get("worker_attributes") or "{}")
    except (TypeError, ValueError):
        attributes = {}
    full = str(attributes.get("full_name") or "").strip() if isinstance(attributes, dict) else ""
    if name_format == "friendly_name" or not full:
        return friendly[:200]
    if name_format == "last_first" and " " in full:
        first, last = full.rsplit(" ", 1)
        return f"{last}, {first}"[:200]
    return full[:200]


def lookup(attributes, path):
    """A task attribute by ``name`` or ``object.name`` (one level), as text; None when absent."""
    value = attributes
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)[:1000]
    return "" if value is None else str(value)[:1000]


def parse_time(value):
    """A Twilio time (ISO 8601 text, or a datetime the library parsed) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    text = str(value).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def interaction_fields(connection, event, worker):
    """The ``create_interaction`` fields of a task event (``event``: ``{"event_date", "event_data"}``),
    or None for a channel Holdfast does not ingest (or that the connection does not enable)."""
    data = event["event_data"]
    attributes = attributes_of(data)
    channel = channel_of(data, attributes)
    if channel is None:
        return None
    if channel == Channel.VOICE and not connection.voice_enabled:
        return None
    if channel != Channel.VOICE and not connection.digital_enabled:
        return None
    ended = parse_time(event["event_date"])
    started = parse_time(data.get("task_date_created")) or ended
    if started and ended and started > ended:
        started = ended
    age = data.get("task_age")
    duration = int(age) if str(age or "").isdigit() else int((ended - started).total_seconds())
    conference = attributes.get("conference") if isinstance(attributes.get("conference"), dict) else {}
    metadata = {}
    if data.get("task_queue_name"):
        metadata["Queue"] = str(data["task_queue_name"])[:200]
    if conference.get("sid"):
        metadata["Twilio Conference SID"] = str(conference["sid"])
    if attributes.get("conversationSid"):
        metadata["Twilio Conversation SID"] = str(attributes["conversationSid"])
    if event["type"] == "task.canceled":
        metadata["Twilio Task Status"] = "canceled"
    for attribute, label in connection.mapping_pairs:
        value = lookup(attributes, attribute)
        if value is not None:
            metadata[label] = value
    direction = direction_of(attributes)
    from_address = str(attributes.get("from") or attributes.get("customerAddress") or "")[:320]
    to_address = str(attributes.get("to") or attributes.get("called") or "")[:320]
    return {
        "channel": channel,
        "direction": direction,
        "origin": Origin.QUEUE,
        "started_at": started,
        "ended_at": ended,
        "duration_seconds": max(duration, 0),
        "from_address": from_address,
        "to_address": to_address,
        "agent_id": (worker or {}).get("worker_sid", "")[:120],
        "agent_name": agent_name(worker, connection.agent_name_format),
        "source_system": connection.source_system,
        "source_task_id": data.get("task_sid", ""),
        "source_call_id": str(attributes.get("call_sid") or attributes.get("conversationSid") or "")[:64],
        "metadata": metadata,
    }


# --- the legs of a voice task ----------------------------------------------------------------------
def conference_legs(attributes):
    """``{call SID: role}`` the task's attributes name: ``customer`` / ``worker`` participants."""
    conference = attributes.get("conference") if isinstance(attributes.get("conference"), dict) else {}
    participants = conference.get("participants") if isinstance(conference.get("participants"), dict) else {}
    legs = {}
    for role, call_sid in participants.items():
        if isinstance(call_sid, str) and call_sid.startswith("CA"):
            legs[call_sid] = "worker" if role in ("worker", "agent") else ("customer" if role == "customer" else role)
    return legs


def flex_media_recordings(attributes):
    """Recording SIDs Flex lists in the task's ``conversations.media``."""
    conversations = attributes.get("conversations") if isinstance(attributes.get("conversations"), dict) else {}
    media = conversations.get("media") if isinstance(conversations.get("media"), list) else []
    sids = []
    for item in media:
        if not isinstance(item, dict):
            continue
        url = str(item.get("url") or "")
        candidate = item.get("sid") or url.rstrip("/").rsplit("/", 1)[-1].split(".")[0]
        if isinstance(candidate, str) and candidate.startswith("RE") and len(candidate) == 34:
            sids.append(candidate)
    return sids


def recording_type(recording, task_call_sid, legs):
    """The audio recording type of a recording (see the module's table)."""
    source = (recording.get("source") or "").lower()
    call_sid = recording.get("call_sid") or ""
    if source == "recordverb":
        return AudioRecordingType.IVR_SNIPPET
    if (
        recording.get("conference_sid")
        and source in ("conference", "startconferencerecordingapi")
        and (not call_sid or call_sid not in legs)
    ):
        return AudioRecordingType.CONFERENCE_CUSTOMER
    role = legs.get(call_sid)
    if role == "worker":
        return AudioRecordingType.CONFERENCE_AGENT
    if call_sid == task_call_sid or role == "customer":
        return AudioRecordingType.CONFERENCE_CUSTOMER
    return AudioRecordingType.CONFERENCE_EXTERNAL


# --- the transcript of a digital task -----------------------------------------------------------------
def transcript(channel, messages, *, worker_name, attributes):
    """The product's messaging transcript (``{"channel", "messages": [{"at", "from", "author",
    "text", "attachments"}]}``, as the page renders it) of a conversation's messages."""
    customers = {
        str(attributes.get(k)) for k in ("from", "customerAddress", "customerName", "name") if attributes.get(k)
    }
    rows = []
    for message in messages:
        author = message.get("author") or ""
        if not author or author == "system":
            role = "system"
        elif author in customers or author.startswith(("whatsapp:", "messenger:", "+")):
            role = "customer"
        else:
            role = "agent"
        when = parse_time(message.get("date_created"))
        media = message.get("media") or []
        rows.append(
            {
                "at": when.isoformat(timespec="seconds") if when else "",
                "from": role,
                "author": worker_name if role == "agent" and author == worker_name else author,
                "text": message.get("body") or "",
                "attachments": [
                    m.get("filename") or m.get("sid") or "attachment" for m in media if isinstance(m, dict)
                ],
            }
        )
    return {"channel": str(channel), "messages": rows}
