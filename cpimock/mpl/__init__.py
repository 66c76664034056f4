"""The message processing log: the record of a call, its SQLite store and writer, CPI's OData API
and the monitor page.
"""
