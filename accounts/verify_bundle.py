#!/usr/bin/env python3
"""Verify a Holdfast audit-trail export offline, and the one definition of the chain's hashes.

Usage::

    python3 verify_bundle.py audit-bundle.zip [--public-key-fingerprint HEX]

Needs Python 3.11+ and the ``cryptography`` package only (``pip install cryptography``). Exit status
0 and one line ``OK ...`` when the bundle is intact; 1 and the first break otherwise; 2 when the
bundle cannot be read. Holdfast itself imports this file (``accounts.verify_bundle``) for every hash
it computes in Python, so what is verified here is exactly what the application wrote.

The chain (one per tenant)
--------------------------

Every audit event has a per-tenant sequence number ``seq`` (1, 2, 3 ... without gaps), the previous
event's hash ``prev_hash`` (64 zeros for seq 1) and its own ``hash``, all lowercase hex::

    digest = SHA-256( UTF-8( canonical(event) ) )
    hash   = SHA-256( bytes.fromhex(prev_hash) || digest )

``canonical(event)`` is the JSON array, in this order, of::

    [1, tenant_id, occurred_at, kind, actor_user_id, actor_label, actor_kind, actor_key, source,
     remote_addr, interaction_guid, artifact_id, request_id, reason, details]

- ``1`` is the version of this serialization;
- integers (``tenant_id``, ``actor_user_id``, ``artifact_id``, ``request_id``) are JSON numbers,
  absent values are ``null`` (never omitted, never an empty string in their place);
- ``occurred_at`` is ISO 8601 in UTC with exactly six fractional digits and a ``Z``:
  ``2025-03-01T09:15:00.000000Z``; ``interaction_guid`` is the lowercase, hyphenated UUID;
  ``remote_addr`` the address as text (IPv6 compressed), or null;
- ``details`` is the event's JSON object.

The text of that array is JSON in the normal form PostgreSQL prints a ``jsonb`` value in (so that
the database computes the same bytes with ``jsonb_build_array(...)::text``):

- object keys ordered by the length of their UTF-8 bytes, then byte by byte; no duplicate keys;
- ``", "`` between members and elements, ``": "`` after a key; ``{}`` and ``[]`` when empty;
- strings as UTF-8, escaping only ``"`` ``\\`` and the control characters below U+0020
  (``\\b \\f \\n \\r \\t`` by name, the others as ``\\u00xx`` in lowercase hex);
- numbers in plain decimal notation (no exponent) with the scale they were written with
  (``1.50`` stays ``1.50``, ``1e2`` is ``100``, negative zero is ``0``); ``true``, ``false``, ``null``.

``seq`` is not part of ``canonical(event)``: the links fix the order, the verifier checks that seq
has no gaps, and signed checkpoints bind a seq to a hash. Keeping it out lets a verifier tell an
edited row (its own hash no longer matches its content) from a removed or inserted one (every row
matches its own hash, but a link does not).

Checkpoints
-----------

A checkpoint states the head of a tenant's chain at a moment, signed with the deployment's Ed25519
key. The signed message is the UTF-8 of the compact JSON (keys sorted, ``","`` and ``":"``, ASCII)::

    {"at": "<ISO 8601 UTC, 6 digits, Z>", "hash": "<hex>", "seq": N, "tenant": <id>,
     "tenant_slug": "<slug>", "v": 1}

``signature`` is the 64-byte Ed25519 signature in base64; ``key_fingerprint`` the SHA-256 of the
raw 32-byte public key, in hex. Seq 0 with 64 zeros is the empty chain.

The bundle
----------

A zip with ``events.jsonl`` (the chain from ``manifest.first_seq`` to ``manifest.last_seq``, one
object per line in seq order; events the export's filters left out carry only ``seq``, ``digest``,
``prev_hash`` and ``hash``), ``checkpoints.jsonl``, ``public_keys.pem`` (each key the checkpoints name),
``manifest.json`` (tenant, range, filters, the checkpoint the range starts after and the one it ends
at), ``README.md`` and this file. The verifier recomputes every digest it can and every hash, checks
every link and that seq has no gaps, checks every checkpoint's signature, and that the chain passes
through the checkpoints the manifest names: the range is anchored at both ends by signatures.
"""

import argparse
import base64
import hashlib
import io
import json
import re
import sys
import zipfile
from datetime import UTC
from decimal import Decimal

GENESIS = "0" * 64
VERSION = 1

#: The fields of ``canonical(event)`` after the version, in order.
FIELDS = (
    "tenant_id",
    "occurred_at",
    "kind",
    "actor_user_id",
    "actor_label",
    "actor_kind",
    "actor_key",
    "source",
    "remote_addr",
    "interaction_guid",
    "artifact_id",
    "request_id",
    "reason",
    "details",
)

# --- kinds of break -------------------------------------------------------------------------------
EDITED = "row edited"
REMOVED_OR_INSERTED = "row removed or inserted"
TRUNCATED = "tail truncated"
BAD_SIGNATURE = "bad signature"
REWRITTEN = "chain does not extend checkpoint"

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def _escape(match):
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _string(text):
    return '"' + _NEEDS_ESCAPE.sub(_escape, text) + '"'


def _number(value):
    if isinstance(value, int):
        return str(value)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a JSON number")
    if number == 0:
        number = abs(number)
    return format(number, "f")


def jsonb_text(value):
    """``value`` (JSON types; ``Decimal`` for exact numbers) as PostgreSQL prints it as ``jsonb``."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int | float | Decimal):
        return _number(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(jsonb_text(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return "{" + ", ".join(f"{_string(key)}: {jsonb_text(value[key])}" for key in keys) + "}"
    raise TypeError(f"{type(value).__name__} is not a JSON type")


def utc_text(moment):
    """A timezone-aware datetime as the chain writes it: ``2025-03-01T09:15:00.000000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event):
    """The canonical text of an event: a mapping with the :data:`FIELDS` (times already as text)."""
    return jsonb_text([VERSION, *(event[name] for name in FIELDS)])


def digest(event):
    """SHA-256 of the canonical UTF-8 bytes of ``event``."""
    return hashlib.sha256(canonical(event).encode()).digest()


def link(prev_hash, event_digest):
    """The hash of an event whose digest is ``event_digest`` after an event whose hash is ``prev_hash``."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + event_digest).hexdigest()


# --- checkpoints --------------------------------------------------------------------------------
def checkpoint_message(checkpoint):
    """The bytes a checkpoint's signature covers."""
    body = {
        "at": checkpoint["at"],
        "hash": checkpoint["hash"],
        "seq": checkpoint["seq"],
        "tenant": checkpoint["tenant"],
        "tenant_slug": checkpoint["tenant_slug"],
        "v": VERSION,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def fingerprint(public_key):
    """SHA-256 (hex) of an Ed25519 public key's raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def signature_valid(checkpoint, public_keys):
    """Whether ``checkpoint`` is signed by the key its fingerprint names among ``public_keys``."""
    from cryptography.exceptions import InvalidSignature

    key = public_keys.get(checkpoint.get("key_fingerprint"))
    if key is None:
        return False
    try:
        key.verify(base64.b64decode(checkpoint["signature"]), checkpoint_message(checkpoint))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_public_keys(pem_bytes):
    """Every Ed25519 public key of a PEM file, by fingerprint."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = {}
    marker = b"-----END PUBLIC KEY-----"
    for block in pem_bytes.split(marker):
        if b"-----BEGIN PUBLIC KEY-----" in block:
            key = serialization.load_pem_public_key(block.strip() + b"\n" + marker + b"\n")
            if isinstance(key, Ed25519PublicKey):
                keys[fingerprint(key)] = key
    return keys


# --- walking a chain ----------------------------------------------------------------------------
class Break(Exception):
    """The first place where a chain is not what it should be."""

    def __init__(self, kind, seq, message):
        super().__init__(f"{kind} at seq {seq}: {message}")
        self.kind, self.seq, self.message = kind, seq, message


class ChainWalker:
    """Checks rows given in seq order: ``(seq, prev_hash, hash, content_ok)``, where ``content_ok``
    says whether the row's hash matches its own content and prev_hash. Raises :class:`Break`."""

    def __init__(self, seq=0, head=GENESIS):
        self.seq, self.head, self.count = seq, head, 0

    def step(self, seq, prev_hash, row_hash, content_ok):
        if not content_ok:
            raise Break(EDITED, seq, "its hash does not match its content")
        if seq == self.seq:
            raise Break(REMOVED_OR_INSERTED, seq, "a second event with this sequence number")
        if seq != self.seq + 1:
            missing = f"{self.seq + 1}" if seq == self.seq + 2 else f"{self.seq + 1}-{seq - 1}"
            raise Break(REMOVED_OR_INSERTED, seq, f"sequence numbers {missing} are missing")
        if prev_hash != self.head:
            raise Break(REMOVED_OR_INSERTED, seq, "its previous hash is not the hash of the event before it")
        self.seq, self.head = seq, row_hash
        self.count += 1


# --- the bundle ---------------------------------------------------------------------------------
def _lines(archive, name):
    with archive.open(name) as stream:
        for raw in io.TextIOWrapper(stream, encoding="utf-8"):
            if raw.strip():
                yield json.loads(raw, parse_float=Decimal)


def verify(path, expected_fingerprint=None):
    """Verify the bundle at ``path``; returns the summary line or raises :class:`Break`."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        keys = load_public_keys(archive.read("public_keys.pem"))
        if expected_fingerprint and expected_fingerprint.lower() not in keys:
            raise Break(BAD_SIGNATURE, 0, "the bundle's public keys do not include the expected fingerprint")
        checkpoints = {}
        for checkpoint in _lines(archive, "checkpoints.jsonl"):
            if checkpoint["tenant"] != manifest["tenant"] or not signature_valid(checkpoint, keys):
                raise Break(BAD_SIGNATURE, checkpoint["seq"], "checkpoint signature does not verify")
            checkpoints[checkpoint["seq"]] = checkpoint
        start, end = manifest["starts_after"], manifest["ends_at"]
        if start["seq"] and checkpoints.get(start["seq"], {}).get("hash") != start["hash"]:
            raise Break(BAD_SIGNATURE, start["seq"], "the range does not start at a signed checkpoint")
        if checkpoints.get(end["seq"], {}).get("hash") != end["hash"]:
            raise Break(BAD_SIGNATURE, end["seq"], "the range does not end at a signed checkpoint")
        walker = ChainWalker(start["seq"], start["hash"] if start["seq"] else GENESIS)
        full = 0
        for event in _lines(archive, "events.jsonl"):
            if "kind" in event:
                full += 1
                if event.get("tenant_id") != manifest["tenant"]:
                    raise Break(EDITED, event["seq"], "an event of another tenant")
                event_digest = digest(event)
            else:
                event_digest = bytes.fromhex(event["digest"])
            ok = link(event["prev_hash"], event_digest) == event["hash"]
            walker.step(event["seq"], event["prev_hash"], event["hash"], ok)
            signed = checkpoints.get(event["seq"])
            if signed is not None and signed["hash"] != event["hash"]:
                raise Break(REWRITTEN, event["seq"], "the chain differs from the signed checkpoint here")
        if walker.seq < end["seq"]:
            raise Break(TRUNCATED, walker.seq + 1, f"the events stop before the checkpoint at seq {end['seq']}")
        if walker.seq != end["seq"] or walker.head != end["hash"]:
            raise Break(REWRITTEN, walker.seq, "the range does not end at its signed checkpoint")
    return (
        f"OK tenant {manifest['tenant_slug']}: events {start['seq'] + 1}-{end['seq']} chained "
        f"({full} exported in full), {len(checkpoints)} checkpoint(s) signed by "
        f"{', '.join(sorted(keys)) or 'no key'}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Verify a Holdfast audit-trail export offline.")
    parser.add_argument("bundle", help="the .zip the Audit Trail page exported")
    parser.add_argument(
        "--public-key-fingerprint", help="the fingerprint you trust (as the audit page shows it), checked too"
    )
    args = parser.parse_args(argv)
    try:
        print(verify(args.bundle, args.public_key_fingerprint))
    except Break as exc:
        print(f"BROKEN {exc.kind} at seq {exc.seq}: {exc.message}")
        return 1
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"UNREADABLE {exc.__class__.__name__}: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
