"""The datasets' pages (``pages``: list, detail, uploads, sources, grants, refills, exports)
and the JSON the chat's dataset picker and citations read (``api``)."""
