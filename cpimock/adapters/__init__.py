"""Sender adapters: how each of CPI's inbound channels (HTTPS, SOAP 1.x, SOAP (SAP RM), IDoc)
turns a request into a ``Message`` and a result into its answer.
"""
