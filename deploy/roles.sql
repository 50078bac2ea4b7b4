-- Run once by the postgres image at first start (docker-entrypoint-initdb.d): the sidecar's
-- login role. It is no superuser; `grants` (docker-compose.yml) gives it psqlqueue's sidecar set
-- once `migrate` has created the extension.
CREATE ROLE psqlqueue_app LOGIN PASSWORD 'psqlqueue_app';
