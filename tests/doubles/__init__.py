"""Wire-protocol test servers (never shipped): the real SDKs talk HTTP to these on loopback."""
