# Sourced by the mariadb image's entrypoint on the primary's first start (empty data
# directory), after it has set the root password and the replication user
# (MARIADB_REPLICATION_USER). Written to the binary log on purpose: the replica, which starts
# replicating from the primary's first binlog, makes the same database and users from it.
#
#   depot            the application (DATABASE_URL through ProxySQL): everything on depot.*
#   depot_reader     reports (DATABASE_REPLICA_URL through ProxySQL): SELECT only
#   proxysql_monitor ProxySQL's health, read_only and replication-lag checks
docker_process_sql <<EOSQL
CREATE DATABASE IF NOT EXISTS \`${DEPOT_DB_NAME}\`
  CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS '${DEPOT_DB_USER}'@'%' IDENTIFIED BY '${DEPOT_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON \`${DEPOT_DB_NAME}\`.* TO '${DEPOT_DB_USER}'@'%';
CREATE USER IF NOT EXISTS '${DEPOT_DB_READER_USER}'@'%' IDENTIFIED BY '${DEPOT_DB_READER_PASSWORD}';
GRANT SELECT ON \`${DEPOT_DB_NAME}\`.* TO '${DEPOT_DB_READER_USER}'@'%';
CREATE USER IF NOT EXISTS '${PROXYSQL_MONITOR_USER}'@'%' IDENTIFIED BY '${PROXYSQL_MONITOR_PASSWORD}';
GRANT USAGE, REPLICA MONITOR ON *.* TO '${PROXYSQL_MONITOR_USER}'@'%';
EOSQL
