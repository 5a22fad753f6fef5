"""SCIM 2.0 provisioning (RFC 7643/7644) at ``/scim/v2/``: an identity provider (Entra ID,
Okta, ...) creates, updates, suspends and removes people and keeps groups' members.

The SCIM wire format (resources, PATCH operations with every path form, filters, list
responses, errors, discovery documents) is parsed and rendered by ``scim2-models``, a
pydantic library kept by the python-scim project (the same people publish scim2-tester, the
conformance checker our tests run). ``django-scim2`` was the other candidate: it is
maintained and supports Django 5.2, but its PATCH support is left to the integrator's own
``handle_add``/``handle_replace`` code (so Entra's capitalised ops and value-path forms
would be hand-written here) and its filters go through ``scim2-filter-parser``'s SQL
transpiler with raw queries. With scim2-models the library applies PATCH operations to a
resource and parses filters into a tree; this app only maps those resources to accounts'
rows (users.py, groups.py) and a filter tree to a Django query (filters.py).

The app sits right above ``accounts`` and below ``gateway`` in the layers: it writes users
through accounts' services and reads SSO's group marks, and nothing but the project root
imports it.
"""
