"""In-memory stand-ins of the workflow's document store (the bucket, by s3:// location) and stage pointers (SSM)."""

from __future__ import annotations

from eksd_adopt.workflow.models import StagePointer


class FakeStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def location(self, key: str) -> str:
        return f"s3://bucket/{key}"

    def put(self, key: str, body: bytes, *, write_once: bool = False, content_type: str = "application/yaml") -> str:
        self.objects[key] = body
        return self.location(key)

    def get(self, location: str) -> bytes:
        return self.objects[location.removeprefix("s3://bucket/")]


class FakePointers:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], StagePointer] = {}

    def get(self, stage: str, channel: str) -> StagePointer | None:
        return self.values.get((stage, channel))

    def put(self, stage: str, pointer: StagePointer) -> None:
        self.values[(stage, pointer.channel)] = pointer
