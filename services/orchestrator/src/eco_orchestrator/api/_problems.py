"""The problems routes declare, where several routes can return the same one."""

from __future__ import annotations

NO_RUN = (404, "No run with that id (or it is another principal's)")
MALFORMED = (400, "The body is not valid JSON")
QUERY_REFUSED = (
    MALFORMED,
    (413, "The query is far over the length limit"),
    (422, "The query is blank, too long, or names an unknown format"),
)
DOC_STORE_FAILED = (
    (404, "The doc store has no such document (or it is not the caller's)"),
    (502, "The doc store answered with an error"),
    (503, "The doc store is unavailable"),
)
DELEGATION = ((403, "The issuer refused to let the run act for the caller"),)
