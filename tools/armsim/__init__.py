"""A local stand-in for Azure Resource Manager that the unmodified azure-mgmt-* clients talk to."""

from .app import ArmSimApp, create_app
from .certs import CertPaths, ensure_certs
from .config import SimConfig

__all__ = ["ArmSimApp", "CertPaths", "SimConfig", "create_app", "ensure_certs"]
