"""How people sign in and stay signed in: allauth's adapter, password-guessing limits
(``guessing``), LDAP (``ldap``, ``ldap_backend``), a trusted proxy's header
(``trusted_header``), the second factor (``mfa``, ``mfa_middleware``), Django admin's sign-in
sent to the product's (``admin_sign_in``) and the sessions a person has (``sessions``).
Single sign-on is its own Django app, ``accounts/sso/``."""
