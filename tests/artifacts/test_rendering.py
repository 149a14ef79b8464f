"""Transcripts, emails and categorization results read on the interaction page: readable, escaped,
capped, and a clear message (never a 500) for content that is malformed or too large."""

import json
import random
from email.message import EmailMessage

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from artifacts import rendering
from core.vocabulary import ArtifactType, AudioRecordingType, Channel, ContentKey
from tests.factories import ArtifactFactory, InteractionFactory, demo_email_artifact
from tests.matrix import client_for
from workspace import demo_content

pytestmark = pytest.mark.django_db


def chat(interaction, content, **fields):
    fields.setdefault("filename", "chat-transcript.json")
    return ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.MESSAGING_TRANSCRIPT,
        content_key=ContentKey.CHAT_TRANSCRIPT,
        content=content,
        content_type="application/json",
        **fields,
    )


def email_artifact(interaction, message):
    return ArtifactFactory(
        interaction=interaction,
        artifact_type=ArtifactType.EMAIL,
        content_key="6f1c0b5e-4a57-4a32-9d7e-3b9f7e0f1a11",
        content=bytes(message) if isinstance(message, bytes) else message.as_bytes(),
        filename="message.eml",
        content_type="message/rfc822",
    )


def page(client, interaction):
    response = client.get(reverse("interaction-detail", args=[interaction.tenant.slug, interaction.guid]))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("channel", [Channel.CHAT, Channel.SMS, Channel.WHATSAPP, Channel.MESSENGER])
def test_demo_messaging_transcript_is_a_conversation(acme, member, channel):
    interaction = InteractionFactory(tenant=acme, channel=channel, agent_name="Ada Agent")
    content = demo_content.chat_transcript(interaction, random.Random(1), "Carla Customer")
    artifact = chat(interaction, content.data)
    html = page(client_for(member(acme)), interaction)
    section = html[html.index(f'id="content-{artifact.pk}"') :]
    messages = json.loads(content.data)["messages"]
    assert section.count('<li class="message') == len(messages)
    assert "Ada Agent" in section and "Carla Customer" in section
    assert messages[1]["text"].replace("'", "&#x27;") in section
    assert messages[0]["at"][:10] in section  # the time, as a date and time
    assert "from-agent" in section and "from-customer" in section


def test_message_attachments_are_named_and_odd_keys_accepted(acme, member):
    interaction = InteractionFactory(tenant=acme, channel=Channel.WHATSAPP)
    document = [
        {"timestamp": "2024-05-01T10:00:00Z", "sender": "Carla", "body": "Here is the photo", "media": ["box.jpg"]},
        {
            "timestamp": "2024-05-01T10:01:00Z",
            "sender": "Sam",
            "body": "Thanks",
            "attachments": [{"filename": "label.pdf"}],
        },
    ]
    chat(interaction, json.dumps(document).encode())
    html = page(client_for(member(acme)), interaction)
    assert (
        "box.jpg" in html and "label.pdf" in html and "2024-05-01 12:00:00 CEST" in html and "Here is the photo" in html
    )


def test_call_transcript_and_categorization_are_readable(acme, member):
    interaction = InteractionFactory(tenant=acme, agent_name="Ada Agent")
    rng = random.Random(3)
    transcript = demo_content.call_transcript(interaction, rng)
    results = demo_content.categorization(interaction, rng)
    for key, content in ((ContentKey.TRANSCRIPT, transcript), (ContentKey.CATEGORIZATION_RESULT, results)):
        ArtifactFactory(
            interaction=interaction,
            audio_recording_type=AudioRecordingType.CONFERENCE_CUSTOMER,
            content_key=key,
            content=content.data,
            filename=content.filename,
            content_type=content.content_type,
        )
    html = page(client_for(member(acme)), interaction)
    segments = json.loads(transcript.data)["segments"]
    assert segments[1]["text"].replace("'", "&#x27;") in html and "00:00" in html
    body = json.loads(results.data)
    category = body["categories"][0]
    assert f"{category['name']} (score {category['score']})" in html
    assert "<dt>Sentiment</dt>" in html and f"Customer: {body['sentiment']['customer']}" in html
    assert "<dt>Silence ratio</dt>" in html and ", ".join(body["keywords"]) in html
    assert '"categories"' not in html  # not raw JSON


def test_demo_email_headers_body_and_attachment(acme, member):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL, from_address="carla@example.com")
    artifact, attachment = demo_email_artifact(interaction, 5, "1b0d7f6c-2a56-4f2e-8a77-5a0b8c1d2e3f")
    client = client_for(member(acme))
    html = page(client, interaction)
    assert "<dt>From</dt><dd>Carla Customer &lt;carla@example.com&gt;</dd>" in html
    assert "<dt>To</dt>" in html and "<dt>Subject</dt>" in html and "<dt>Date</dt>" in html
    assert "Best regards," in html and "<html>" not in html and "&lt;html&gt;" not in html
    url = reverse("artifact-attachment", args=["acme", artifact.pk, 0])
    assert f'href="{url}"' in html and attachment.filename in html
    response = client.get(url)
    assert response.status_code == 200 and response.content == attachment.data
    assert response["Content-Disposition"] == f'attachment; filename="{attachment.filename}"'
    assert "sandbox" in response["Content-Security-Policy"]


def test_html_only_email_is_text_and_its_script_never_reaches_the_page(acme, member):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    message = EmailMessage()
    message["From"], message["To"] = "Mallory <m@evil.test>", "help@acme.test"
    message["Subject"] = "<script>alert('subject')</script>"
    message.set_content(
        "<html><head><style>p{color:red}</style><script>alert('head')</script></head><body>"
        "<p>Hello <b>there</b></p><script>document.title='pwned'</script>"
        "<img src=x onerror=\"alert('img')\"><p>&lt;script&gt;alert('entity')&lt;/script&gt;</p></body></html>",
        subtype="html",
    )
    email_artifact(interaction, message)
    html = page(client_for(member(acme)), interaction)
    body = html[html.index('<pre class="email-body">') : html.index("</pre>")]
    assert "Hello there" in body
    assert "pwned" not in html and "onerror" not in html and "color:red" not in html
    assert "&lt;script&gt;alert(&#x27;entity&#x27;)&lt;/script&gt;" in body  # text that looks like a tag stays text
    assert "&lt;script&gt;alert(&#x27;subject&#x27;)&lt;/script&gt;" in html
    assert "<script>alert" not in html and "<b>there" not in html
    assert "no plain-text part" in html


def test_text_part_is_preferred_and_markup_in_it_is_escaped(acme, member):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", "Hi"
    message["Cc"] = "c@example.com"
    message.set_content("Plain words <script>alert(1)</script>\n")
    message.add_alternative("<p>HTML words</p>", subtype="html")
    email_artifact(interaction, message)
    html = page(client_for(member(acme)), interaction)
    assert "Plain words &lt;script&gt;alert(1)&lt;/script&gt;" in html and "HTML words" not in html
    assert "<dt>Cc</dt><dd>c@example.com</dd>" in html


@pytest.mark.parametrize(
    "content,expected",
    [
        (b"\x00\xff not json", "not valid JSON"),
        (b'{"messages": "nope"}', "no list of messages"),
        (b'{"messages": [1, 2]}', "not in a readable form"),
        (b"[]", "This transcript has no messages."),
    ],
)
def test_malformed_transcripts_show_a_message(acme, member, content, expected):
    interaction = InteractionFactory(tenant=acme, channel=Channel.CHAT)
    chat(interaction, content)
    assert expected in page(client_for(member(acme)), interaction)


@pytest.mark.parametrize(
    "content",
    [b"", b"\x89PNG\r\n\x1a\n\x00\x00binary", b"Content-Type: multipart/mixed; boundary=zzz\r\n\r\n--zzz\r\nbroken"],
    ids=["empty", "binary", "headers-only"],
)
def test_malformed_email_never_fails_the_page(acme, member, content):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    artifact = email_artifact(interaction, content or b"\r\n")
    client = client_for(member(acme))
    html = page(client, interaction)
    section = html[html.index(f'id="content-{artifact.pk}"') :]
    assert '<p class="content-problem">This email is empty or not in email (.eml) format' in section
    response = client.get(reverse("artifact-attachment", args=["acme", artifact.pk, 0]))
    assert response.status_code == 404 and b'class="content-problem"' in response.content


def test_too_large_content_is_not_parsed_and_says_so(acme, member, monkeypatch):
    interaction = InteractionFactory(tenant=acme, channel=Channel.CHAT)
    big = json.dumps({"messages": [{"author": "x", "text": "y" * 1000}] * 2200}).encode()
    assert len(big) > rendering.MAX_JSON_BYTES
    chat(interaction, big)
    html = page(client_for(member(acme)), interaction)
    assert "files over 2 MB are not shown here. Download it to read it." in html
    assert not AuditEvent.objects.filter(kind=AuditEvent.Kind.ARTIFACT_VIEWED).exists()


def test_html_to_text_keeps_words_and_drops_active_parts():
    text = rendering.html_to_text(
        "<div>One<br>Two</div><script>var x = '<p>';</script><noscript>n</noscript><p>Three &amp; four</p>"
    )
    assert text == "One\nTwo\n\nThree & four"


def test_broken_mime_structure_and_unknown_charset_still_render(acme, member):
    interaction = InteractionFactory(tenant=acme, channel=Channel.EMAIL)
    broken = (
        b"From: a@example.com\r\nSubject: =?x-unknown?q?odd?=\r\n"
        b"Content-Type: multipart/mixed; boundary=zzz\r\n\r\n--zzz\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nStill readable\r\n"
        b"--zzz\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!"
    )
    artifact = email_artifact(interaction, broken)
    client = client_for(member(acme))
    html = page(client, interaction)
    assert "Still readable" in html and "a.pdf" in html
    response = client.get(reverse("artifact-attachment", args=["acme", artifact.pk, 0]))
    assert response.status_code in (200, 404)  # whatever the decoder makes of it: never a 500
