"""Incoming data checks (deepchecks), run by the `checks.incoming` job kind."""
