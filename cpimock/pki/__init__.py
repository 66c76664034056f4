"""The local PKI shaped like SAP's, distinguished names, and the BTP service-key JSON with the files
senders need.
"""
