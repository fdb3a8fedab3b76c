"""Files API models.

pydantic builds a model's validator and serializer when its class is defined: 1-3 ms a model at a cold
start. The models are therefore split by the routes that use them, and each HTTP function imports only its
modules: ``file`` (``File`` and the types of its parts), ``uploads``, ``parts`` (of multipart uploads),
``quota``, ``attachments`` and ``retention``.

``from crewhouse.files.models import X`` still works for every model: this package imports the module that
defines ``X`` when ``X`` is first asked for (PEP 562), so importing the package builds nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crewhouse.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from crewhouse.files.models.attachments import AttachRequest as AttachRequest
    from crewhouse.files.models.file import Attachment as Attachment
    from crewhouse.files.models.file import File as File
    from crewhouse.files.models.file import MultipartInfo as MultipartInfo
    from crewhouse.files.models.file import Ocr as Ocr
    from crewhouse.files.models.file import PartNumber as PartNumber
    from crewhouse.files.models.file import Scan as Scan
    from crewhouse.files.models.file import Status as Status
    from crewhouse.files.models.file import TargetId as TargetId
    from crewhouse.files.models.file import TargetKind as TargetKind
    from crewhouse.files.models.parts import PartsRequest as PartsRequest
    from crewhouse.files.models.parts import PartUrl as PartUrl
    from crewhouse.files.models.parts import PartUrls as PartUrls
    from crewhouse.files.models.parts import Sha256Base64 as Sha256Base64
    from crewhouse.files.models.parts import UploadedPart as UploadedPart
    from crewhouse.files.models.parts import UploadedParts as UploadedParts
    from crewhouse.files.models.quota import Quota as Quota
    from crewhouse.files.models.quota import QuotaPolicy as QuotaPolicy
    from crewhouse.files.models.retention import RetentionCandidate as RetentionCandidate
    from crewhouse.files.models.retention import RetentionPolicy as RetentionPolicy
    from crewhouse.files.models.retention import RetentionPolicyUpdate as RetentionPolicyUpdate
    from crewhouse.files.models.retention import RetentionPreview as RetentionPreview
    from crewhouse.files.models.retention import RetentionPreviewTotals as RetentionPreviewTotals
    from crewhouse.files.models.retention import RetentionTotals as RetentionTotals
    from crewhouse.files.models.uploads import CompletedPart as CompletedPart
    from crewhouse.files.models.uploads import CompleteRequest as CompleteRequest
    from crewhouse.files.models.uploads import ContentType as ContentType
    from crewhouse.files.models.uploads import FileCreate as FileCreate
    from crewhouse.files.models.uploads import FileCreated as FileCreated
    from crewhouse.files.models.uploads import MultipartUpload as MultipartUpload
    from crewhouse.files.models.uploads import PostUpload as PostUpload
    from crewhouse.files.models.uploads import Sha256Hex as Sha256Hex

_MODULES: dict[str, tuple[str, ...]] = {
    "file": ("Status", "TargetKind", "TargetId", "PartNumber", "Scan", "Ocr", "Attachment", "MultipartInfo", "File"),
    "uploads": ("ContentType", "Sha256Hex", "FileCreate", "PostUpload", "MultipartUpload", "FileCreated",
                "CompletedPart", "CompleteRequest"),
    "parts": ("Sha256Base64", "PartsRequest", "PartUrl", "PartUrls", "UploadedPart", "UploadedParts"),
    "quota": ("Quota", "QuotaPolicy"),
    "attachments": ("AttachRequest",),
    "retention": ("RetentionPolicyUpdate", "RetentionPolicy", "RetentionTotals", "RetentionPreviewTotals",
                  "RetentionCandidate", "RetentionPreview"),
}
__getattr__, __dir__, _lazy = lazy_exports(__name__, _MODULES, globals())
__all__ = _lazy
