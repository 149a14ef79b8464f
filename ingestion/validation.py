"""Checks of a Twilio Flex connection's fields, each failure naming the field by its label.

Used by the services (pages, the command and the admin all go through them), so every caller
refuses the same input with the same words and saves nothing.
"""

import ipaddress
import re
import zoneinfo
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
WORKSPACE_SID = re.compile(r"^WS[0-9a-fA-F]{32}$")
PUBLIC_KEY_SID = re.compile(r"^CR[0-9a-fA-F]{32}$")
#: A task attribute, or ``object.attribute``: at most one level below an object.
ATTRIBUTE = re.compile(r"^[A-Za-z_$][\w$-]*$")
MIN_RSA_BITS = 2048

LABELS = {
    "name": "Name",
    "account_sid": "Twilio Account SID",
    "auth_token": "Twilio Auth Token",
    "workspace_sid": "Twilio Flex Workspace SID",
    "time_zone": "Time Zone",
    "agent_name_format": "Agent Name Format",
    "products": "Products Enabled",
    "metadata_mapping": "Metadata Mapping",
    "encryption_name": "Twilio Voice Recording Encryption: Name",
    "public_key_sid": "Twilio Voice Recording Encryption: Public Key SID",
    "private_key": "Twilio Voice Recording Encryption: Private Key",
    "webhook_url": "Event Webhook URL",
}


def sid_error(value, pattern, prefix, label):
    """A message when ``value`` is not ``prefix`` + 32 hexadecimal digits, else None."""
    if not value:
        return f"{label}: enter the SID (“{prefix}” followed by 32 hexadecimal digits)."
    if not pattern.match(value):
        return f"{label}: “{value[:40]}” is not a SID: it must be “{prefix}” followed by 32 hexadecimal digits."
    return None


def account_sid_error(value):
    return sid_error(value, ACCOUNT_SID, "AC", LABELS["account_sid"])


def workspace_sid_error(value):
    return sid_error(value, WORKSPACE_SID, "WS", LABELS["workspace_sid"])


def public_key_sid_error(value):
    return sid_error(value, PUBLIC_KEY_SID, "CR", LABELS["public_key_sid"])


def time_zone_error(value):
    try:
        zoneinfo.ZoneInfo(value or "")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return f"{LABELS['time_zone']}: “{value}” is not a time zone (e.g. Europe/Paris, America/Chicago)."
    return None


def load_private_key(pem):
    """The RSA private key of a PKCS#8 PEM (unencrypted); raises ``ValueError`` saying what is wrong."""
    text = (pem or "").strip()
    if "-----BEGIN PRIVATE KEY-----" not in text:
        if "-----BEGIN RSA PRIVATE KEY-----" in text:
            raise ValueError(
                "this is a PKCS#1 key (BEGIN RSA PRIVATE KEY); convert it to PKCS#8 with "
                "openssl pkcs8 -topk8 -nocrypt -in key.pem"
            )
        if "-----BEGIN ENCRYPTED PRIVATE KEY-----" in text:
            raise ValueError("the key is protected by a passphrase; paste the unencrypted PKCS#8 key")
        raise ValueError("paste a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY----- …)")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"the PEM cannot be read ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("Twilio encrypts recordings with RSA: the key must be an RSA key")
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"the key has {key.key_size} bits; Twilio requires at least {MIN_RSA_BITS}")
    return key


def private_key_error(pem):
    try:
        load_private_key(pem)
    except ValueError as exc:
        return f"{LABELS['private_key']}: {exc}."
    return None


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url_error(url):
    """An absolute https URL with a host; plain http only to a loopback address, and only with DEBUG."""
    label = LABELS["webhook_url"]
    if len(url) > 500:
        return f"{label}: at most 500 characters ({len(url)} entered)."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{label}: “{url[:80]}” is not a URL."
    if not host or parts.scheme not in ("https", "http") or any(c.isspace() for c in url):
        return f"{label}: enter an absolute URL such as https://example.com/holdfast-events."
    if parts.username or parts.password:
        return f"{label}: credentials in the URL are not allowed (the payload is signed instead)."
    if parts.scheme == "http" and not (settings.DEBUG and _is_loopback(host)):
        return f"{label}: use https (plain http is accepted only for a loopback address in development)."
    return None


def parse_mapping_line(line):
    """``attribute=label`` (the command's ``--map``) → ``(attribute, label)``; ``ValueError`` otherwise."""
    attribute, sep, label = line.partition("=")
    if not sep or not attribute.strip() or not label.strip():
        raise ValueError(f"“{line}” is not ATTRIBUTE=LABEL")
    return attribute.strip(), label.strip()


def mapping_errors(mapping, text_labels, other_labels=()):
    """Messages for a metadata mapping ``[(attribute, label), ...]``: attributes at most one level
    below an object, labels among the tenant's Text labels, each attribute once."""
    label, errors, seen = LABELS["metadata_mapping"], [], set()
    for attribute, name in mapping:
        parts = attribute.split(".")
        if not attribute or not all(ATTRIBUTE.match(part) for part in parts):
            errors.append(
                f"{label}: “{attribute[:80]}” is not a task attribute (letters, digits, _ and -; "
                "object.attribute for an object's attribute)."
            )
        elif len(parts) > 2:
            errors.append(
                f"{label}: “{attribute}” is nested more than one level below an object; "
                "only attribute or object.attribute can be mapped."
            )
        elif attribute in seen:
            errors.append(f"{label}: “{attribute}” is mapped twice.")
        seen.add(attribute)
        if name in other_labels:
            errors.append(f"{label}: the metadata label “{name}” is not of type Text; only Text labels can be mapped.")
        elif name not in text_labels:
            errors.append(f"{label}: there is no metadata label “{name}”; create it under Metadata Labels first.")
    return errors
