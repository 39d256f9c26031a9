"""The web UI: server-rendered pages; their scripts and styles are files served by llmrelay."""
