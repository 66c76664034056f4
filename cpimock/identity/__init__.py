"""Who is calling, and may they: certificate → service key → instance → roles, Basic, OAuth
tokens (XSUAA-shaped), CSRF tokens. Pure: no aiohttp, no files.
"""
