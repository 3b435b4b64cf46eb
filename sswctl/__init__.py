"""SecureSwift VPN: control tool, protocol engine and userspace data plane."""

__version__ = "0.1.0"
