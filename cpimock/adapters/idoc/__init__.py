"""CPI's IDoc sender adapter's wire formats: IDoc-XML (SOAP-wrapped or plain), its control records and answers.

Pure functions and frozen values, no HTTP: the server's ``/cxf/`` routes call them.
"""
