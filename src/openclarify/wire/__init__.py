"""Protocol adapters: HTTP in, service calls, HTTP out. The only place that knows status codes."""
