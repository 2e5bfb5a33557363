from tests.migrations.sql import blank_url

__all__ = ["blank_url"]
