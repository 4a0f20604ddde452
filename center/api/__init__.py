"""The HTTP API, one package per resource (``routes.py`` with its ``schemas.py``, and a
``service.py`` where other resources or the CLI need the same logic), the live feed and the
console's pages. Only the app factory (:mod:`center.app`) imports the route modules."""
