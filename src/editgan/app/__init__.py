"""The interactive web tool (`editgan serve`): a FastAPI back end around one Editor and a static page."""

from editgan.app.server import create_app

__all__ = ["create_app"]
