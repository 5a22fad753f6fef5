"""Whether a signed-in account may act right now, on every path: pages
(``middleware``), websockets when they open (``sockets``) and while they stay open
(``live``: a change to the user reaches its open sockets within a second)."""
