"""The pieces of routing that are more than a line: the hash ring and the affinity policy.

``gateway.routing`` is the entry point; nothing outside it should need these modules.
"""
