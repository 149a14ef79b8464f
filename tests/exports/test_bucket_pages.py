"""Configuration > Exports, "Your S3 buckets": add, edit, remove (role matrix), bad input named per
field with nothing saved, the keys never shown back, and a daily archive's "Push to" choice."""

import pytest
from django.urls import reverse

from accounts.actors import user_actor
from accounts.models import AuditEvent
from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER
from exports import buckets
from exports.models import ExportBucket, ExportSchedule
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db
ALLOWED = {COMPLIANCE_OFFICER, ADMINISTRATOR}
BASE = "/t/acme/configuration/exports/"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
FIELDS = {
    "name": "Our archive",
    "endpoint_url": "https://s3.example.com",
    "region_name": "eu-central-1",
    "bucket": "acme-archives",
    "prefix": "holdfast",
    "access_key_id": KEY_ID,
    "secret_access_key": SECRET,
}


@pytest.fixture
def bucket(acme, officer):
    return buckets.create_bucket(acme.pk, user_actor(officer), **FIELDS)


def test_role_matrix_of_the_bucket_pages(acme, officer, bucket):
    made = iter(range(100))

    def a_new_bucket():
        return buckets.create_bucket(acme.pk, user_actor(officer), **{**FIELDS, "name": f"Spare {next(made)}"})

    assert_role_matrix(f"{BASE}buckets/{bucket.pk}/", acme, allowed=ALLOWED)
    assert_role_matrix(
        f"{BASE}buckets/new/", acme, allowed=ALLOWED, method="post", data={**FIELDS, "bucket": ""}, ok_status=400
    )
    assert_role_matrix(
        f"{BASE}buckets/{bucket.pk}/",
        acme,
        allowed=ALLOWED,
        method="post",
        data={**FIELDS, "name": "Ours"},
        ok_status=302,
    )
    assert_role_matrix(
        lambda: f"{BASE}buckets/{a_new_bucket().pk}/remove/",
        acme,
        allowed=ALLOWED,
        method="post",
        ok_status=302,
    )


def test_add_a_bucket_and_never_see_its_keys_again(acme, officer):
    client = client_for(officer)
    response = client.post(f"{BASE}buckets/new/", FIELDS)
    assert response.status_code == 302 and response["Location"].endswith("#buckets")
    bucket = ExportBucket.objects.get(tenant=acme)
    assert (bucket.bucket, bucket.prefix, bucket.endpoint_url) == (
        "acme-archives",
        "holdfast/",
        "https://s3.example.com",
    )
    page = client.get(BASE).content.decode()
    assert "Our archive" in page and "s3://acme-archives/holdfast/" in page and "key ID …MPLE, secret set" in page
    edit = client.get(f"{BASE}buckets/{bucket.pk}/").content.decode()
    for html in (page, edit):
        assert SECRET not in html and KEY_ID not in html
    assert "Now …MPLE. Leave empty to keep it." in edit
    # Saving with the keys left empty keeps them.
    assert client.post(f"{BASE}buckets/{bucket.pk}/", {**FIELDS, "access_key_id": "", "secret_access_key": "",
                                                        "prefix": "other"}).status_code == 302  # fmt: skip
    bucket.refresh_from_db()
    assert bucket.access_key_id == KEY_ID and bucket.prefix == "other/"
    changed = AuditEvent.objects.get(kind=AuditEvent.Kind.EXPORT_BUCKET_CHANGED)
    assert changed.details["changed"] == {"prefix": ["holdfast/", "other/"]}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("endpoint_url", "s3.example.com", "an http:// or https:// URL"),
        ("bucket", "Acme_Archives", "lowercase letters"),
        ("prefix", "/x", "does not start with"),
        ("secret_access_key", "", "required."),
    ],
)
def test_bad_input_is_shown_at_its_field_and_nothing_is_saved(acme, officer, field, value, message):
    response = client_for(officer).post(f"{BASE}buckets/new/", {**FIELDS, field: value})
    assert response.status_code == 400
    html = response.content.decode()
    form = html[html.index('id="bucket-form"') :]
    at_field = form[form.index(f'name="{field}"') :].split("</p>")[0]
    assert message in at_field.replace("&#x27;", "'").replace("&quot;", '"')
    assert not ExportBucket.objects.exists()


def test_removal_is_refused_while_an_archive_pushes_to_it(acme, officer, bucket):
    client = client_for(officer)
    data = {"name": "Dialer", "hour": "4", "starts_on": "2026-11-01", "push_to": str(bucket.pk)}
    assert client.post(f"{BASE}schedules/new/", data).status_code == 302
    schedule = ExportSchedule.objects.get(tenant=acme)
    assert schedule.push_to == bucket
    page = client.get(BASE).content.decode()
    assert f'<option value="{bucket.pk}" selected>Your bucket “Our archive”</option>' in page
    response = client.post(f"{BASE}buckets/{bucket.pk}/remove/", follow=True)
    assert "not removed: the daily archive “Dialer” pushes to “Our archive”" in response.content.decode()
    assert ExportBucket.objects.filter(pk=bucket.pk).exists()
    # Archives kept here again: then the bucket can go.
    assert_role_matrix(
        f"{BASE}schedules/{schedule.pk}/push-to/", acme, allowed=ALLOWED, method="post", data={"push_to": ""},
        ok_status=302,
    )  # fmt: skip
    schedule.refresh_from_db()
    assert schedule.push_to is None
    changed = AuditEvent.objects.filter(kind=AuditEvent.Kind.EXPORT_SCHEDULE_CHANGED).latest("seq")
    assert changed.details["changed"] == {"push_to": ["Our archive", ""]}
    response = client.post(f"{BASE}buckets/{bucket.pk}/remove/", follow=True)
    assert "Bucket “Our archive” removed." in response.content.decode() and not ExportBucket.objects.exists()


def test_another_tenants_bucket_is_not_offered_nor_accepted(acme, globex, officer, member):
    theirs = buckets.create_bucket(globex.pk, user_actor(member(globex, ADMINISTRATOR)), **FIELDS)
    client = client_for(officer)
    page = client.get(BASE).content.decode()
    assert f'<option value="{theirs.pk}"' not in page
    data = {"name": "Dialer", "hour": "4", "starts_on": "2026-11-01", "push_to": str(theirs.pk)}
    response = client.post(f"{BASE}schedules/new/", data)
    assert response.status_code == 400 and not ExportSchedule.objects.exists()
    ours = client.post(f"{BASE}schedules/new/", {**data, "push_to": ""})
    assert ours.status_code == 302
    schedule = ExportSchedule.objects.get()
    response = client.post(f"{BASE}schedules/{schedule.pk}/push-to/", {"push_to": str(theirs.pk)}, follow=True)
    assert "not changed — push to: no such bucket." in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.push_to is None
    assert client.get(reverse("export-bucket-edit", args=["acme", theirs.pk])).status_code == 404
