from tests.web.conftest import console_server, explained_endpoint

__all__ = ["console_server", "explained_endpoint"]
