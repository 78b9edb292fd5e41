. /opt/common/lib.sh
. /opt/common/db.sh
for file in /migrations/*.sql; do log "applying $(basename "$file") to $DB_URL"; done
log "migrated"
