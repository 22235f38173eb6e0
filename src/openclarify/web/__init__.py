"""The web console: server-rendered pages for models, endpoint configs and endpoints, a playground per endpoint
and a container pre-check page. Every HTML page has a JSON twin (the same path with ``.json``). Plain JavaScript
and inline SVG; every asset is served from this package (no CDN, no build step)."""

from openclarify.web.routes import console_routes

__all__ = ["console_routes"]
