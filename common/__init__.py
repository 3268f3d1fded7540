"""Helpers shared by the web app, the ToDoList API, the daemon and the local tenant.

Components depend on each other only through HTTP and settings; what they have in common
(outbound HTTP with explicit TLS trust, the External ID authority rules, signing-key caching,
reading settings) lives here once.
"""
