"""Accounts' own pages, thin: ``settings`` (the settings index and "Your data": export,
delete), ``policy`` (an invitation's link, the status page of a pending or suspended
account), ``sessions`` (signing one session out). Their URLs are in ``accounts/urls/``."""
