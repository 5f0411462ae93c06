"""The doc store's logic, one module per responsibility, behind one service object."""

from eco_doc_store.service._documents import DocumentOps
from eco_doc_store.service._provenance import ProvenanceOps
from eco_doc_store.service._search import SearchOps


class DocStoreService(DocumentOps, ProvenanceOps, SearchOps):
    """Documents, versions, provenance and search over one database and the event bus."""


__all__ = ["DocStoreService"]
