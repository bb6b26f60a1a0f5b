"""The personal data media keeps: the files people uploaded (originals, previews, thumbnails,
upload chunks) and their names, known by `uploaded_by`."""

from __future__ import annotations

from tenantry.platform.personal_data import (
    AUDIT_OUTBOX,
    Holds,
    NoPersonalData,
    OnErase,
    PersonalData,
    PersonalField,
    PersonalTable,
    step_routes,
)

_EXPORT, _ERASE = step_routes("media")

PERSONAL_DATA = PersonalData(
    tables=(
        PersonalTable(
            "media_files",
            subject="uploaded_by",
            fields=(
                PersonalField("uploaded_by", Holds.ACCOUNT_ID, OnErase.SCRUB),
                PersonalField("name", Holds.UPLOADED_FILE, OnErase.CONTENT),
            ),
            note="with content erased the file goes, its blobs with it at once; kept, it "
            "no longer names who uploaded it",
        ),
        PersonalTable(
            "media_uploads",
            subject="uploaded_by",
            fields=(
                PersonalField("uploaded_by", Holds.ACCOUNT_ID, OnErase.DELETE_ROW),
                PersonalField("name", Holds.UPLOADED_FILE, OnErase.DELETE_ROW),
            ),
            note="an upload under way is cancelled whatever becomes of the content",
        ),
        AUDIT_OUTBOX,
    ),
    free=(
        NoPersonalData("media_upload_chunks", "sizes and hashes; whose they are is the upload's"),
        NoPersonalData("media_settings", "a site's media settings"),
        NoPersonalData("media_usage", "a site's bytes in use"),
        NoPersonalData("media_preview_queue", "file ids waiting for previews"),
        NoPersonalData("blob_retirements", "blob trees to remove once backups age out"),
    ),
    blobs="each file's original, previews and thumbnail, and each upload's chunks, sealed "
    "with the site's data key, under the file's or upload's id; uploaded_by says whose",
    logs="file ids and sizes in request lines, never names or content; logs are appended "
    "under the data directory's logs/ until the operator rotates them",
    export_step=_EXPORT,
    erase_step=_ERASE,
)
