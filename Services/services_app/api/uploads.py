"""Upload handlers that enforce the upload cap while the body arrives, not after.

Django's default handlers write a whole multipart file to a temporary file
before a view can look at its size, so a 300 MiB upload against a 1 MiB cap
fills 300 MiB of disk first. `CappedUploadHandler` (first in
``FILE_UPLOAD_HANDLERS``) refuses:

- at once, from ``Content-Length``, a body larger than the cap plus a small
  envelope for the multipart headers (nothing is read or written);
- while streaming, the first chunk that takes the files of the request past
  the cap (what was written so far is deleted).

Both raise `UploadTooLarge`, which the API answers with 413 ``too_large``. The
cap is ``SERVICES_MAX_UPLOAD_BYTES`` (settings ``MAX_UPLOAD_BYTES``), for all files of one request together;
the number of files in one request is capped by Django's
``DATA_UPLOAD_MAX_NUMBER_FILES`` (answered 400 ``too_many_files``).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadhandler import FileUploadHandler

# Room for the multipart boundaries, part headers and small form fields around the files.
ENVELOPE_BYTES = 1024 * 1024


class UploadTooLarge(RequestDataTooBig):
    """An upload over the cap; the message says what to do instead."""


def _too_large(cap: int, what: str) -> UploadTooLarge:
    return UploadTooLarge(
        f"{what} is larger than the upload limit of {cap} bytes; put large files under the data root or in a "
        "bucket and pass their location"
    )


class CappedUploadHandler(FileUploadHandler):
    """Refuses over-cap uploads early (Content-Length) and while streaming (file bytes seen in the request).

    It only counts; the handlers after it (Django's memory and temporary-file
    handlers) store the bytes. When it raises, it first closes and deletes the
    temporary file the next handlers started."""

    def __init__(self, request=None):
        super().__init__(request)
        self.cap = int(getattr(settings, "MAX_UPLOAD_BYTES", 0) or 0)
        self.seen = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        if self.cap and content_length and content_length > self.cap + ENVELOPE_BYTES:
            raise _too_large(self.cap, f"the request body ({content_length} bytes)")
        return None

    def receive_data_chunk(self, raw_data, start):
        self.seen += len(raw_data)
        if self.cap and self.seen > self.cap:
            self._discard_partial()
            raise _too_large(self.cap, repr(self.file_name or "the uploaded file"))
        return raw_data

    def file_complete(self, file_size):
        return None

    def _discard_partial(self) -> None:
        """Close (and so delete) the temporary file the storing handler opened for this part."""
        for handler in getattr(self.request, "upload_handlers", []) or []:
            if handler is self:
                continue
            partial = getattr(handler, "file", None)
            if partial is not None:
                try:
                    partial.close()  # a TemporaryUploadedFile deletes itself on close
                except OSError:
                    pass
