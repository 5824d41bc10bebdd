"""Placeholder: filled in by the provider work."""


def register(cloud):
    return None
