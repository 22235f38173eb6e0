"""Ways to run the server past one process. ``serving.ray``: the server as a Ray Serve application."""
