"""Single sign-on through OpenID Connect (docs/accounts.md, "Single sign-on (OpenID Connect)").

allauth's ``openid_connect`` provider does the protocol; this package decides who may come in:
providers read from the environment (``config``), the account rules of a first login and of
linking by email (``adapter``), the groups an IdP claim manages (``groups``, ``models``) and
the sign-out at the provider (``logout``).
"""
