"""`uvicorn auth_service.main:app`"""

from auth_service.app import create_app

app = create_app()
