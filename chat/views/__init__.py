"""The chat's pages and JSON views, split by feature: ``pages`` (the chat page), ``conversations``
(the sidebar's JSON, exports, the public share page), ``thread`` (the message view's JSON and
the page's data). Routed in chat/urls.py."""
