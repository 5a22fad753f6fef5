"""The OpenAI-compatible ``/v1`` API: thin async views over the gateway core.

- ``auth``: ``@api_key_required`` (Bearer ``aip_…`` keys only, never the session) and
  ``@api_methods``;
- ``validation``: body size, JSON, caps, refused and allowed fields;
- ``errors``: OpenAI's error shape and the status for each gateway error;
- ``upstream``: the one place the views call the core (admission, access, proxy);
- ``views``: the endpoints.
"""
