from db_postgres_service.api.v1 import users

# Included straight into the app, each with its full prefix, so that a matched route's
# `path` is the whole template (`/api/v1/users/{user_id}`) for logs and metrics.
routers = [users.router]
