-- Creates the databases of deploy/compose.yaml. The postgres image runs this once,
-- as the superuser, when its data volume is still empty (docker-entrypoint-initdb.d).
-- The passwords come from the container's environment (psql 15's \getenv), so this
-- file holds no secret: SYNAPSE_DB_PASSWORD and CAMPUSBOT_DB_PASSWORD in deploy/.env.

\set ON_ERROR_STOP on
\getenv synapse_db_password SYNAPSE_DB_PASSWORD
\getenv campusbot_db_password CAMPUSBOT_DB_PASSWORD

CREATE ROLE synapse LOGIN PASSWORD :'synapse_db_password';
CREATE ROLE campusbot LOGIN PASSWORD :'campusbot_db_password';

-- Synapse refuses to start on a database whose collation and ctype are not C.
CREATE DATABASE synapse OWNER synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE campusbot OWNER campusbot ENCODING 'UTF8' TEMPLATE template0;
