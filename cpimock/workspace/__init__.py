"""The workspace on disk: creating it, the registry of issued service keys, revocation, and
inspecting certificate files.
"""
