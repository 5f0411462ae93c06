"""Typed async clients for the ecosystem's services, on one `BaseServiceAdapter`."""

from eco_shared.adapters._base import (
    AdapterError,
    BaseServiceAdapter,
    OperationRef,
    adapter_operations,
    check_adapter_against_openapi,
    operation,
)

__all__ = [
    "AdapterError",
    "BaseServiceAdapter",
    "OperationRef",
    "adapter_operations",
    "check_adapter_against_openapi",
    "operation",
]
