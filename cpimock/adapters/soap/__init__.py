"""CPI's SOAP 1.x and SOAP (SAP RM) sender adapters' wire formats: envelopes, replies, faults, WSDLs, message ids.

Pure functions and frozen values, no HTTP: the server's ``/cxf/`` routes call them.
"""
