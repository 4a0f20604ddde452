"""Small helpers that the edge node and the control center both use (not the wire contract).

- :mod:`common.logs`: structured logging, one JSON object a line off a terminal.
- :mod:`common.configfile`: YAML config files validated by pydantic, with errors that name
  the file and the field path.
"""
