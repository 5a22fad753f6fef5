"""Who may create an account: the one policy every path asks (``policy``), an admin's
invitations (``invites``) and the local sign-up form (``forms``)."""
