"""The knowledge base walks folders with the platform's one confined walk (`services_app.walk`)."""

from ...walk import FileEntry, Skipped, display, extension, walk

__all__ = ["FileEntry", "Skipped", "display", "extension", "walk"]
