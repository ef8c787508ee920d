"""The credit office's web console (issue 17): server-rendered pages in Chinese in the check service's
application (:func:`engine.console.app.mount`), for the clerks and reviewers of an authority.

* :mod:`engine.console.sessions` — login sessions (cookie, idle expiry, CSRF);
* :mod:`engine.console.queue` — the 待办 queue; :mod:`engine.console.entity` — the entity page;
  :mod:`engine.console.cases` — objection and repair case pages; :mod:`engine.console.cycles` — cycles;
* :mod:`engine.console.app` — the routes and templates (``templates/``), htmx and CSS (``static/``).
"""
