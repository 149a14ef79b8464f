"""The shapes of the API's bodies, for the OpenAPI document (drf-spectacular) and for reading input.

Responses are built as plain dicts by the views (fast at 1,000 rows); these serializers declare the
same shapes, and the schemathesis run in the suite checks that every response conforms to them.
"""

from rest_framework import serializers

from core.vocabulary import (
    ARTIFACT_TYPE_SELECTION_CHOICES,
    ArtifactState,
    ArtifactType,
    AudioRecordingType,
    Channel,
    Direction,
    Origin,
)


class Problem(serializers.Serializer):
    """RFC 9457 problem details: every error of the API."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    errors = serializers.ListField(child=serializers.DictField(), required=False)


class LockInfo(serializers.Serializer):
    id = serializers.IntegerField()
    artifactType = serializers.CharField()
    audioRecordingType = serializers.CharField(allow_blank=True)
    expiresAt = serializers.DateTimeField(allow_null=True)
    requestId = serializers.IntegerField(allow_null=True)


class Content(serializers.Serializer):
    """One artifact of an interaction."""

    id = serializers.CharField(help_text="The artifact's unique identifier: addresses it when a content key is shared.")
    contentKey = serializers.CharField()
    type = serializers.ChoiceField(choices=ArtifactType.choices)
    audioRecordingType = serializers.ChoiceField(choices=AudioRecordingType.choices, allow_blank=True)
    contentType = serializers.CharField()
    contentLength = serializers.IntegerField()
    exportDate = serializers.DateTimeField(
        allow_null=True, help_text="When a verified export last took its bytes out (kept after deletion)."
    )
    exportId = serializers.IntegerField(allow_null=True, help_text="That export (GET /api/v1/exports/{id}).")
    durationSeconds = serializers.FloatField(
        allow_null=True,
        help_text="Length of an audio or video recording in seconds, read from its header when stored; "
        "null for other content and when the header does not say.",
    )
    lastModified = serializers.DateTimeField()
    sha256 = serializers.CharField()
    state = serializers.ChoiceField(choices=ArtifactState.choices)
    locked = serializers.BooleanField()
    locks = LockInfo(many=True)
    archiveDate = serializers.DateTimeField(allow_null=True)
    deleteDate = serializers.DateTimeField(allow_null=True)


class Interaction(serializers.Serializer):
    guid = serializers.UUIDField()
    channel = serializers.ChoiceField(choices=Channel.choices)
    direction = serializers.ChoiceField(choices=Direction.choices)
    origin = serializers.CharField(allow_blank=True)
    startTime = serializers.DateTimeField()
    endTime = serializers.DateTimeField(allow_null=True)
    durationSeconds = serializers.IntegerField()
    connectFrom = serializers.CharField(allow_blank=True)
    connectTo = serializers.CharField(allow_blank=True)
    handlingAgentId = serializers.CharField(allow_blank=True)
    handlingAgentName = serializers.CharField(allow_blank=True)
    sourceSystem = serializers.CharField(allow_blank=True)
    sourceCallId = serializers.CharField(allow_blank=True)
    sourceTaskId = serializers.CharField(allow_blank=True)
    metadata = serializers.DictField(child=serializers.CharField())
    locked = serializers.BooleanField()
    content = Content(many=True)


class PageMeta(serializers.Serializer):
    count = serializers.IntegerField()
    nextContinuationToken = serializers.CharField(allow_null=True)


class InteractionList(serializers.Serializer):
    interactions = Interaction(many=True)
    meta = PageMeta()


class DeleteBatchInput(serializers.Serializer):
    guids = serializers.ListField(child=serializers.CharField(), min_length=1, max_length=1000)


class DeleteFailure(serializers.Serializer):
    guid = serializers.CharField()
    message = serializers.CharField()
    statusCode = serializers.IntegerField()


class DeleteBatchResult(serializers.Serializer):
    failures = DeleteFailure(many=True)
    requestId = serializers.IntegerField(
        allow_null=True, help_text="The Delete request that ran (none if no GUID was known)."
    )


class Accepted(serializers.Serializer):
    """The work goes on in the background: follow ``request``."""

    requestId = serializers.IntegerField()
    status = serializers.CharField()
    request = serializers.CharField()


ORIGIN_CHOICES = Origin.choices
SELECTION_CHOICES = ARTIFACT_TYPE_SELECTION_CHOICES
