"""Governance registers."""

from governance.models.audit import AuditChainHead, AuditEvent
from governance.models.datasets import Dataset, DatasetRecord, DatasetVersion
from governance.models.deployments import Deployment, DeploymentDocumentation
from governance.models.dpia import DPIA
from governance.models.erasure import ErasureNameMatch, ErasureRequest, SubjectPackage, SuppressedKey
from governance.models.retention import LegalHold, RetentionRun
from governance.models.systems import AISystem

__all__ = [
    "DPIA",
    "AISystem",
    "AuditChainHead",
    "AuditEvent",
    "Dataset",
    "DatasetRecord",
    "DatasetVersion",
    "Deployment",
    "DeploymentDocumentation",
    "ErasureNameMatch",
    "ErasureRequest",
    "LegalHold",
    "RetentionRun",
    "SubjectPackage",
    "SuppressedKey",
]
