"""The live alert feed: the WebSocket and the hub that fans changes out to it."""
