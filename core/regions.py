"""Storage regions (data residency): the ``STORAGE_REGIONS`` setting read and checked, and the
region names a tenant may be in.

``STORAGE_REGIONS`` (environment, JSON) maps a region name to its S3 endpoint and buckets::

    {"eu": {"endpoint_url": "https://s3.eu-central-1.amazonaws.com", "region_name": "eu-central-1",
            "active_bucket": "holdfast-eu-active", "archive_bucket": "holdfast-eu-archive",
            "exports_bucket": "holdfast-eu-exports"},
     "us": {...}}

Every named storage (``active``, ``archive``, ``exports`` ...) exists once per region: in the bucket
``<name>_bucket`` names, or, without one, under the prefix ``<name>/`` of the region's active bucket.
Empty, there is one implicit region, ``default``: the ``STORAGES`` of the settings (the file system or
the ``S3_*`` buckets), so nothing changes for a deployment that configures no region.

This module is the bottom layer's: the settings parse with it, the tenant model names its regions
with it; the storage service (``artifacts/storage.py``) builds the backends.
"""

import json
import re

from django.core.exceptions import ImproperlyConfigured, ValidationError

#: The one region of a deployment without ``STORAGE_REGIONS``: today's ``STORAGES``.
IMPLICIT_REGION = "default"
#: A region's name: it is stored on each tenant and shown to support staff.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
#: Keys a region may have; ``active_bucket`` and ``archive_bucket`` are required.
REQUIRED_KEYS = ("active_bucket", "archive_bucket")
OPTIONAL_KEYS = (
    "exports_bucket",
    "endpoint_url",
    "region_name",
    "access_key_id",
    "secret_access_key",
    "archive_storage_class",
)


def parse_storage_regions(text, *, defaults=None):
    """The regions of ``STORAGE_REGIONS`` (JSON text), each with every key filled in:
    ``{name: {"active_bucket": ..., "archive_bucket": ..., "exports_bucket": None, "endpoint_url": ...}}``.

    ``defaults`` gives the values of the optional keys a region leaves out (the ``S3_*`` settings:
    endpoint, region, credentials, archive storage class). Empty text: ``{}`` (the implicit region).
    Raises ``ImproperlyConfigured`` naming the region and the key that is wrong.
    """
    defaults = defaults or {}
    text = (text or "").strip()
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"STORAGE_REGIONS is not valid JSON: {exc}.") from None
    if not isinstance(raw, dict) or not raw:
        raise ImproperlyConfigured(
            'STORAGE_REGIONS must be a JSON object mapping region names to their buckets, e.g. {"eu": '
            '{"active_bucket": "holdfast-eu-active", "archive_bucket": "holdfast-eu-archive"}}; leave it empty '
            "for one region (the S3_* or file-system storages)."
        )
    regions, owners = {}, {}
    for name, config in raw.items():
        where = f"STORAGE_REGIONS[{name!r}]"
        if not NAME.match(name):
            raise ImproperlyConfigured(
                f"{where}: a region name is 1 to 32 lower-case letters, digits, '-' or '_', starting with a "
                "letter or digit."
            )
        if not isinstance(config, dict):
            raise ImproperlyConfigured(f"{where} must be a JSON object with the region's buckets.")
        unknown = sorted(set(config) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
        if unknown:
            raise ImproperlyConfigured(
                f"{where} has the unknown key {unknown[0]!r}; known keys: {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}."
            )
        for key, value in config.items():
            if value is not None and (not isinstance(value, str) or (key.endswith("_bucket") and not value.strip())):
                raise ImproperlyConfigured(f"{where}[{key!r}] must be a non-empty string.")
        for key in REQUIRED_KEYS:
            if not config.get(key):
                raise ImproperlyConfigured(f"{where} lacks {key!r}: every region names its {key.split('_')[0]} bucket.")
        region = {key: config.get(key) or None for key in REQUIRED_KEYS + OPTIONAL_KEYS}
        for key in OPTIONAL_KEYS:
            if region[key] is None and not key.endswith("_bucket"):
                region[key] = defaults.get(key)
        # Residency: no bucket may hold two regions' content (same endpoint, same bucket name).
        for key in ("active_bucket", "archive_bucket", "exports_bucket"):
            if region[key] is None:
                continue
            owner = owners.setdefault((region["endpoint_url"], region[key]), name)
            if owner != name:
                raise ImproperlyConfigured(
                    f"{where}[{key!r}]: bucket {region[key]!r} is a bucket of region {owner!r} too; each region "
                    "keeps its content in buckets of its own."
                )
        regions[name] = region
    return regions


def bucket_and_prefix(region, storage_name):
    """Where storage ``storage_name`` of ``region`` (a parsed region) keeps its objects:
    ``(bucket, prefix)``. A storage without a bucket of its own (``exports`` by default), or one that
    shares the active bucket, is the prefix ``<name>/`` of the active bucket."""
    bucket = region.get(f"{storage_name}_bucket")
    if storage_name == "active":
        return region["active_bucket"], ""
    if not bucket or bucket == region["active_bucket"]:
        return region["active_bucket"], storage_name
    return bucket, ""


def s3_options(region, storage_name):
    """The django-storages ``S3Storage`` options of storage ``storage_name`` in ``region``."""
    bucket, prefix = bucket_and_prefix(region, storage_name)
    options = {
        "bucket_name": bucket,
        "location": prefix,
        "region_name": region["region_name"],
        "endpoint_url": region["endpoint_url"],
        "access_key": region["access_key_id"],
        "secret_key": region["secret_access_key"],
        "default_acl": None,
        "querystring_auth": True,
        "file_overwrite": True,  # keys are unguessable and never reused
    }
    if storage_name == "archive" and region.get("archive_storage_class"):
        options["object_parameters"] = {"StorageClass": region["archive_storage_class"]}
    return options


def region_names():
    """The regions this deployment configures, the first being the default for new tenants."""
    from django.conf import settings

    return tuple(getattr(settings, "STORAGE_REGIONS", None) or ()) or (IMPLICIT_REGION,)


def default_region():
    """The region a new tenant is in unless another is chosen: the first configured one."""
    return region_names()[0]


def region_choices():
    """``(value, label)`` pairs of the configured regions, for forms."""
    return [(name, name) for name in region_names()]


def validate_region(value):
    """Model validator: ``value`` is a region this deployment configures."""
    names = region_names()
    if value not in names:
        raise ValidationError(
            f"“{value}” is not a storage region of this deployment; choose one of: {', '.join(names)} "
            "(STORAGE_REGIONS)."
        )
