# Pretend database settings: editing this file must rebuild every image that copies the library.
DB_URL="${DB_URL:-postgres://demo@db:5432/demo}"
