"""The dispatcher page: static assets plus the map endpoints that feed them."""

from oms_bridge.web.routes import STATIC_DIR, WebSettings, setup_web

__all__ = ["STATIC_DIR", "WebSettings", "setup_web"]
