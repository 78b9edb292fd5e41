. /opt/common/lib.sh
log "serving /srv on :8080"
exec httpd -f -p 8080 -h /srv
