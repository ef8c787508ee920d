"""The check service (issue 16): ``supervise serve``, the HTTP API that government-service systems call.

- :mod:`engine.service.keys`: the server key file, each app's secret derived from it, request signatures;
- :mod:`engine.service.apps`: ``supervise apps add|list|revoke``;
- :mod:`engine.service.checks`: one check answered and written to the decision log in one transaction;
- :mod:`engine.service.log`: ``supervise checks log|show``;
- :mod:`engine.service.api`: the FastAPI application (``create_app``).

Routes read stored decisions only (engine.pipeline.check); nothing here runs the rules engine. See docs/service.md.
"""
