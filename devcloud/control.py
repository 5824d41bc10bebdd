"""Placeholder: the /_devcloud control API."""


def register(cloud):
    return None
