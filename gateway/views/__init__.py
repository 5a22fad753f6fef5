"""The gateway's pages for people (Settings → API keys, ``keys``); the ``/v1`` API's views
are in gateway/api/."""
