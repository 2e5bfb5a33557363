"""`uvicorn ws_service.main:app`"""

from ws_service.app import create_app

app = create_app()
