"""Stop taking in an upload at its limit, instead of after the whole body is on disk.

Django's multipart parser writes every file of a request to temporary files before the view
sees any of them, so a 300 MB file was written whole before its 50 MiB limit refused it.
This handler goes first in the request's list and counts each file's bytes and the
request's:
- a file past its own limit keeps the chunk that crossed it (so ``upload_store`` sees it is
  too big and names it, as for any file) and nothing after it: no more of it is written;
- a request past the room the quotas leave stops the parser (``StopUpload``) and the view
  refuses the whole request, storing nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.files.uploadhandler import FileUploadHandler, StopUpload


class CappedUploadHandler(FileUploadHandler):
    def __init__(
        self, request, *, limit_for: Callable[[str], int], room: int | None, full: str
    ) -> None:
        super().__init__(request)
        self.limit_for = limit_for
        self.room = room
        self.full = full
        self.total = 0
        self.size = 0
        self.limit = 0
        self.refused = ""  # why the parser was stopped, for the person

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self.size = 0
        self.limit = self.limit_for(file_name or "")

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if self.size > self.limit:
            return None  # already too big: the rest of it is dropped, not written
        self.size += len(raw_data)
        self.total += len(raw_data)
        if self.room is not None and self.total > self.room:
            self.refused = f"{self.file_name} does not fit: {self.full}"
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler (memory or temporary file) builds the file
