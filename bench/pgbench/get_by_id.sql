\set id random(1, 10000)
SELECT id, email, username, created_at, updated_at, version FROM users WHERE id = :id;
