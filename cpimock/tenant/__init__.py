"""The running tenant's state, built from the workspace (the snapshot), its hot reload, and the TLS
context.
"""
