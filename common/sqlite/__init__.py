"""Django's SQLite backend on a SQLite that can load extensions, with sqlite-vec loaded
(``ENGINE = "common.sqlite"``): the embedded default's vector search."""
