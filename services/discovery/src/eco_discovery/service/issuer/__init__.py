"""The token issuer (DESIGN.md "Identity and access"), hosted by discovery in modules of its
own so it can move to a service of its own: signing keys (`_signing`), API keys (`_keys`),
run grants (`_grants`), Kubernetes service-account tokens (`_k8s`), the token endpoint and
introspection (`_issuer`), the scopes services get (`_policy`), audit events (`_audit`),
and the runtime discovery holds (`_runtime`)."""

from eco_discovery.service.issuer._audit import AUDIT_STREAM, Audit
from eco_discovery.service.issuer._grants import GRANT_PREFIX, Grants
from eco_discovery.service.issuer._issuer import Issuer
from eco_discovery.service.issuer._k8s import K8sRefused, K8sTokens
from eco_discovery.service.issuer._keys import BOOTSTRAP_OWNER, KeyManager, KeyRecord, KeyRefused
from eco_discovery.service.issuer._policy import TokenRefused, is_service_name, service_policy
from eco_discovery.service.issuer._runtime import IssuerRuntime, issuer_material
from eco_discovery.service.issuer._signing import IssuerKeys

__all__ = [
    "AUDIT_STREAM",
    "BOOTSTRAP_OWNER",
    "GRANT_PREFIX",
    "Audit",
    "Grants",
    "Issuer",
    "IssuerKeys",
    "IssuerRuntime",
    "K8sRefused",
    "K8sTokens",
    "KeyManager",
    "KeyRecord",
    "KeyRefused",
    "TokenRefused",
    "is_service_name",
    "issuer_material",
    "service_policy",
]
