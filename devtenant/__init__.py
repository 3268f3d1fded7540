"""A local Microsoft Entra External ID tenant for development and tests (see docs/devtenant.md)."""
