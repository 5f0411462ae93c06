"""`/documents`: create, version, read, download, provenance, search and delete.

Reads need `docs:read`, writes and deletes `docs:write`; each answers only for the
caller's own documents (another principal's is a 404, as if it did not exist) unless the
caller holds `docs:read:all` (reads) or `admin` (writes).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import JSONResponse

from eco_doc_store.deps import BaseUrlDep, BundlesDep, DocStoreDep, Reader, Writer
from eco_doc_store.models import EXTENSIONS, MEDIA_TYPES
from eco_shared.models.doc_store import (
    MAX_PAGE_SIZE,
    DocumentCreate,
    DocumentFormat,
    DocumentPage,
    DocumentPublic,
    DocumentUpdate,
    MatchMode,
    RFC3339Datetime,
    VersionPage,
)
from eco_shared.problems import problem_responses
from eco_shared.provenance import ProvenanceRecord

router = APIRouter(prefix="/documents", tags=["documents"])

DocumentId = Annotated[str, Path(min_length=1, max_length=36, description="The document id.")]
VersionParam = Annotated[
    int | None, Query(ge=1, le=2**31 - 1, description="A version number; latest when omitted.")
]
PageParam = Annotated[int, Query(ge=1, le=1_000_000)]
PageSizeParam = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=r"^[\x21-\x7e]{1,255}$",
        description="Retrying a create with the same key returns the first result.",
    ),
]
OwnerParam = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x20\x7f]+$",
        description="Only this principal's documents (`user:<id>`, ...). Without"
        " `docs:read:all` the caller sees its own documents only: another owner is an empty"
        " page.",
    ),
]
# A deleted document answers 404 on every path under it, with `deleted_at` in the problem;
# another principal's document is a 404 as if it did not exist.
_NOT_FOUND = (404, "No such document or version (or not the caller's), or it was deleted")
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ -]+")
ZIP = "application/zip"
_DOWNLOAD_TYPES = sorted({media.split(";")[0] for media in MEDIA_TYPES.values()} | {ZIP})


def _disposition(title: str, ext: str) -> str:
    """`attachment` with an ASCII file name and the exact UTF-8 one (RFC 6266/5987)."""
    stem = title.strip()[:120] or "document"
    ascii_stem = _UNSAFE_FILENAME.sub("_", stem).strip(" ._") or "document"
    return (
        f'attachment; filename="{ascii_stem}.{ext}"; '
        f"filename*=UTF-8''{quote(f'{stem}.{ext}', safe='')}"
    )


@router.post(
    "",
    status_code=201,
    summary="Store a new document with its provenance",
    responses=problem_responses(
        400,
        (
            409,
            "Idempotency-Key reused for another request, or its document was deleted; or"
            " provenance.content_sha256 is not the content's",
        ),
        (413, "Content over the size limit"),
        422,
    ),
)
async def create_document(
    caller: Writer,
    body: DocumentCreate,
    documents: DocStoreDep,
    base_url: BaseUrlDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> DocumentPublic:
    document, created = await documents.create(caller, body, idempotency_key, base_url)
    response.headers["Location"] = f"/documents/{document.id}"
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return document


@router.get(
    "",
    summary="Search documents (full text), newest first or by terms matched",
    responses=problem_responses(
        (400, "A cursor not handed out here"), (404, "A page past the end"), 422
    ),
)
async def search_documents(
    caller: Reader,
    documents: DocStoreDep,
    base_url: BaseUrlDep,
    q: Annotated[
        str | None,
        Query(
            max_length=500,
            description='Words and "quoted phrases", stemmed ("retries" finds "retry").',
        ),
    ] = None,
    match: Annotated[
        MatchMode,
        Query(
            description="`all`: every term must match, newest first. `any`: at least one;"
            " the documents matching most terms first, then by relevance."
        ),
    ] = "all",
    format: Annotated[DocumentFormat | None, Query()] = None,
    created_after: Annotated[
        RFC3339Datetime | None, Query(description="RFC 3339 with an offset.")
    ] = None,
    include: Annotated[
        Literal["content"] | None,
        Query(description="`content`: items carry their text too (as the single GET does)."),
    ] = None,
    owner: OwnerParam = None,
    page: PageParam = 1,
    page_size: PageSizeParam = 20,
    cursor: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=300,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="A `next_cursor` of an earlier page of the same query (then `page` is"
            " not read): newest-first orders page by keyset, `match=any` with terms by"
            " position.",
        ),
    ] = None,
) -> DocumentPage:
    return await documents.search(
        caller,
        owner=owner,
        q=q,
        match=match,
        format=format,
        created_after=created_after,
        page=page,
        page_size=page_size,
        base_url=base_url,
        include_content=include == "content",
        cursor=cursor,
    )


@router.get(
    "/{document_id}",
    summary="Get a document at a version, with its text when it is text and fits",
    responses=problem_responses(_NOT_FOUND, 422),
)
async def get_document(
    caller: Reader,
    document_id: DocumentId,
    documents: DocStoreDep,
    base_url: BaseUrlDep,
    version: VersionParam = None,
) -> DocumentPublic:
    return await documents.get(caller, document_id, version, base_url)


@router.put(
    "/{document_id}",
    summary="Add a new version of a document",
    responses=problem_responses(
        400,
        _NOT_FOUND,
        (
            409,
            "Text content for a PDF document (send base64, or name another format), or"
            " provenance.content_sha256 is not the content's",
        ),
        (413, "Content over the size limit"),
        422,
    ),
)
async def update_document(
    caller: Writer,
    document_id: DocumentId,
    body: DocumentUpdate,
    documents: DocStoreDep,
    base_url: BaseUrlDep,
    response: Response,
) -> DocumentPublic:
    document = await documents.add_version(caller, document_id, body, base_url)
    response.headers["Content-Location"] = f"/documents/{document.id}?version={document.version}"
    return document


@router.delete(
    "/{document_id}",
    status_code=204,
    summary="Delete a document (soft); again: 204",
    responses=problem_responses((404, "No such document (or not the caller's)"), 422),
)
async def delete_document(
    caller: Writer, document_id: DocumentId, documents: DocStoreDep
) -> Response:
    await documents.delete(caller, document_id)
    return Response(status_code=204)


@router.get(
    "/{document_id}/versions",
    summary="List a document's versions",
    responses=problem_responses(
        (404, "No such document (or not the caller's), it was deleted, or a page past the end"),
        422,
    ),
)
async def list_versions(
    caller: Reader,
    document_id: DocumentId,
    documents: DocStoreDep,
    page: PageParam = 1,
    page_size: PageSizeParam = 20,
) -> VersionPage:
    return await documents.list_versions(caller, document_id, page, page_size)


@router.get(
    "/{document_id}/download",
    summary="Download a document's bytes, or an RO-Crate ZIP with its provenance and trace",
    response_class=Response,
    responses={
        200: {
            "description": "The bytes in the document's own media type, or with `format=zip`"
            " an RO-Crate (`application/zip`).",
            # No schema: the bytes are the document's own (a `json` document's need not parse).
            "content": {media: {} for media in _DOWNLOAD_TYPES},
        },
        **problem_responses(_NOT_FOUND, 422),
    },
)
async def download_document(
    caller: Reader,
    document_id: DocumentId,
    documents: DocStoreDep,
    bundles: BundlesDep,
    base_url: BaseUrlDep,
    version: VersionParam = None,
    format: Annotated[
        Literal["original", "zip"],
        Query(
            description="`zip`: an RO-Crate with the document, its provenance record, its"
            " PROV-JSON and the run's spans and log lines, each described with its sha256."
        ),
    ] = "original",
) -> Response:
    headers = {"X-Content-Type-Options": "nosniff"}
    if format == "zip":
        document, crate = await bundles.build(caller, document_id, version, base_url)
        headers["Content-Disposition"] = _disposition(document.title, "crate.zip")
        headers["X-Document-Version"] = str(document.version)
        return Response(crate, media_type=ZIP, headers=headers)
    document, content = await documents.download(caller, document_id, version, base_url)
    headers["Content-Disposition"] = _disposition(document.title, EXTENSIONS[document.format])
    headers["ETag"] = f'"{document.sha256}"'
    headers["X-Document-Version"] = str(document.version)
    return Response(content, media_type=document.content_type, headers=headers)


@router.get(
    "/{document_id}/provenance",
    summary="Get a version's provenance record, or W3C PROV-JSON",
    response_model=ProvenanceRecord,
    responses=problem_responses(_NOT_FOUND, 422),
)
async def get_provenance(
    caller: Reader,
    document_id: DocumentId,
    documents: DocStoreDep,
    version: VersionParam = None,
    format: Annotated[
        Literal["record", "prov-json"],
        Query(description="`prov-json`: W3C PROV-JSON of versions 1..version."),
    ] = "record",
) -> ProvenanceRecord | Response:
    if format == "prov-json":
        body = await documents.provenance_prov_json(caller, document_id, version)
        return Response(body, media_type="application/json")
    record = await documents.provenance(caller, document_id, version)
    return JSONResponse(record.model_dump(mode="json"))
