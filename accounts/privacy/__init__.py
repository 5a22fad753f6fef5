"""A person's own data: "export my data" (``export``) and "delete my account"
(``deletion``), each made of the hooks the apps register (``hooks``): accounts writes the
profile and deletes the user row, every other app exports and deletes its own rows."""
