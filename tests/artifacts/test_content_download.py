"""Playing and downloading artifacts: permission-checked, streamed, with HTTP Range (206)."""

import os
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import example, given, settings
from hypothesis import strategies as st

from accounts.permissions import ADMINISTRATOR, COMPLIANCE_OFFICER, SUPERVISOR, VIEWER
from artifacts.models import Artifact
from core.vocabulary import ArtifactState
from tests.factories import ArtifactFactory, InteractionFactory
from tests.matrix import assert_role_matrix, client_for

pytestmark = pytest.mark.django_db

DATA = os.urandom(200_000)


@pytest.fixture
def recording(acme):
    return ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA, filename="call.wav")


def body(response):
    return b"".join(response.streaming_content)


def test_every_role_with_content_access_may_play_and_download(acme, recording):
    everyone = {VIEWER, SUPERVISOR, COMPLIANCE_OFFICER, ADMINISTRATOR}
    assert_role_matrix(reverse("artifact-play", args=["acme", recording.pk]), acme, everyone)
    assert_role_matrix(reverse("artifact-download", args=["acme", recording.pk]), acme, everyone)


def test_role_without_content_access_gets_403(acme, member, recording):
    from accounts import services
    from accounts.models import Role
    from tests.factories import SYSTEM

    viewer_role = Role.objects.get(tenant=acme, name=VIEWER)
    services.set_role_permissions(viewer_role.pk, ["view_interactions"], SYSTEM)
    client = client_for(member(acme, VIEWER))
    assert client.get(reverse("artifact-play", args=["acme", recording.pk])).status_code == 403
    detail = client.get(reverse("interaction-detail", args=["acme", recording.interaction.guid]))
    assert detail.status_code == 200
    assert b"Download" not in detail.content  # not offered either


def test_full_download(acme, member, recording):
    response = client_for(member(acme)).get(reverse("artifact-download", args=["acme", recording.pk]))
    assert response.status_code == 200
    assert body(response) == DATA
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'attachment; filename="call.wav"'
    assert response["Content-Type"] == "audio/x-wav" or response["Content-Type"].startswith("audio/")
    assert "sandbox" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    "header,start,end",
    [
        ("bytes=0-99", 0, 99),
        ("bytes=1000-", 1000, 199_999),
        ("bytes=-500", 199_500, 199_999),
        ("bytes=199990-300000", 199_990, 199_999),
    ],
)
def test_range_returns_the_right_bytes_with_206(acme, member, recording, header, start, end):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": header}
    )
    assert response.status_code == 206
    assert body(response) == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Content-Disposition"].startswith("inline")


def test_unsatisfiable_range_is_416(acme, member, recording):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": "bytes=500000-"}
    )
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"


def test_multiple_ranges_fall_back_to_the_whole_file(acme, member, recording):
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", recording.pk]), headers={"range": "bytes=0-1,5-6"}
    )
    assert response.status_code == 200 and body(response) == DATA


@pytest.mark.s3
def test_range_on_s3(acme, member, s3_storages):
    artifact = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=DATA)
    response = client_for(member(acme)).get(
        reverse("artifact-play", args=["acme", artifact.pk]), headers={"range": "bytes=100-199"}
    )
    assert response.status_code == 206 and body(response) == DATA[100:200]


def test_deleted_artifact_is_gone_with_its_tombstone_shown(acme, member, recording):
    # A tombstone as later deletion services leave it (written directly: no delete service yet).
    Artifact.objects.filter(pk=recording.pk).update(
        state=ArtifactState.DELETED,
        deleted_at=timezone.now(),
        deleted_by="policy: Default",
        deletion_reason="365 days",
    )
    response = client_for(member(acme)).get(reverse("artifact-download", args=["acme", recording.pk]))
    assert response.status_code == 410
    assert b"cannot be retrieved" in response.content


#: Header text as it can reach a WSGI application: latin-1, no line breaks, no NUL.
HEADER_TEXT = st.text(st.characters(max_codepoint=255, blacklist_characters="\r\n\x00"), max_size=60)
#: A number of any length: small, around the file's size, past what ``int()`` converts (4,300 digits).
NUMBER = st.one_of(
    st.just(""),
    st.integers(min_value=0, max_value=2_000).map(str),
    st.integers(min_value=0, max_value=10**30).map(str),
    st.integers(min_value=4_290, max_value=6_000).map(lambda n: "9" * n),
    st.integers(min_value=4_290, max_value=6_000).map(lambda n: "0" * n + "7"),
)
RANGE_HEADERS = st.one_of(
    HEADER_TEXT,
    st.builds("{}={}-{}".format, st.sampled_from(["bytes", "BYTES", "items", "bytes "]), NUMBER, NUMBER),
    st.builds("bytes={}-{},{}-{}".format, NUMBER, NUMBER, NUMBER, NUMBER),
)


def expected_range(header, size):
    """RFC 9110's answer for one ``Range`` header: ``None`` (200), ``"416"``, or ``(start, end)``."""
    match = re.fullmatch(r"bytes=([0-9]*)-([0-9]*)", header.strip(), re.IGNORECASE)
    if not match or match.groups() == ("", ""):
        return None
    # Every number at or past the size has the same answer, so long ones are compared as 10**10.
    first, last = (
        None if not n else int(n.lstrip("0") or "0") if len(n.lstrip("0")) < 10 else 10**10 for n in match.groups()
    )
    if first is None:
        return "416" if last == 0 else (max(size - last, 0), size - 1)
    end = size - 1 if last is None else min(last, size - 1)
    return "416" if first >= size or (last is not None and last < first) else (first, end)


def test_any_range_header_is_200_206_or_416(acme, member):
    """Whatever the Range header says (numbers of 5,000 digits used to answer 500), play and download
    answer the whole file, the exact bytes asked for, or 416: never a 5xx."""
    data = os.urandom(1_000)
    artifact = ArtifactFactory(interaction=InteractionFactory(tenant=acme), content=data)
    client = client_for(member(acme))

    @settings(max_examples=20, deadline=None)
    @example("bytes=" + "9" * 5000 + "-", "artifact-download")
    @example("bytes=-" + "9" * 5000, "artifact-play")
    @example("bytes=0-" + "9" * 5000, "artifact-play")
    @given(RANGE_HEADERS, st.sampled_from(["artifact-play", "artifact-download"]))
    def check(header, view):
        response = client.get(reverse(view, args=["acme", artifact.pk]), headers={"range": header})
        verdict = expected_range(header, len(data))
        if verdict is None:
            assert response.status_code == 200 and body(response) == data
        elif verdict == "416":
            assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(data)}"
        else:
            start, end = verdict
            assert response.status_code == 206, response
            assert body(response) == data[start : end + 1]
            assert response["Content-Range"] == f"bytes {start}-{end}/{len(data)}"

    check()
