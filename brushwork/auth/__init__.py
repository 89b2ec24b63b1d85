"""Authentication: API bearer tokens with scopes."""
