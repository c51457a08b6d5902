-- The domain nodes' databases beside the gateway's (which MARIADB_DATABASE creates), for the atrium user
-- (which MARIADB_USER creates before this runs). The image runs this on its first start only, with an
-- empty data volume; on an existing volume run it once by hand:
--   docker compose exec -T mariadb mariadb -uroot -p"$MARIADB_ROOT_PASSWORD" < docker/mariadb-init.sql
CREATE DATABASE IF NOT EXISTS atrium_node_eng CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS atrium_node_arts CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
GRANT ALL PRIVILEGES ON atrium_node_eng.* TO 'atrium'@'%';
GRANT ALL PRIVILEGES ON atrium_node_arts.* TO 'atrium'@'%';
FLUSH PRIVILEGES;
