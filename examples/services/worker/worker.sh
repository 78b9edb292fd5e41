. /opt/common/lib.sh
echo ready > /tmp/ready
while true; do log "working"; sleep "${INTERVAL:-5}"; done
