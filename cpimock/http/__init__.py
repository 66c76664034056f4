"""The server: accepting connections and their TLS handshakes, the aiohttp application and its
routes, start and graceful stop.
"""
