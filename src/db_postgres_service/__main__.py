from db_postgres_service.cli import app

app()
