#!/bin/sh
# One entrypoint for every service of the offline variant: `mailu-entrypoint ROLE`.
# Configuration files arrive as swarm configs under /conf (read-only); what depends on mailu.env's values
# (DOMAIN, HOSTNAMES, SUBNET, ...) is applied here at start, as Mailu's own start scripts do.
set -eu
role=${1:?usage: mailu-entrypoint front|admin|smtp|imap|antispam|redis|webmail}

first_hostname() { echo "${HOSTNAMES%%,*}"; }

case "$role" in
front)
    # Implicit-TLS ports (465, 993, 443) need a certificate: a self-signed one, made once per volume.
    if [ ! -s /certs/cert.pem ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$(first_hostname)" \
            -keyout /certs/key.pem -out /certs/cert.pem 2>/dev/null
    fi
    exec nginx -c /conf/front/nginx.conf -g 'daemon off;'
    ;;
admin)
    exec python3 /usr/local/lib/mailu/admin_standin.py
    ;;
webmail)
    exec python3 /usr/local/lib/mailu/webmail_standin.py
    ;;
redis)
    exec redis-server --bind 0.0.0.0 --protected-mode no --dir /data --save 60 1 --loglevel notice
    ;;
smtp)
    cp /conf/postfix/main.cf /conf/postfix/master.cf /etc/postfix/
    mailbox="${INITIAL_ADMIN_ACCOUNT}@${INITIAL_ADMIN_DOMAIN}"
    postconf -e "myhostname=$(first_hostname)" "mydomain=${DOMAIN}" \
        "mynetworks=127.0.0.0/8 ${RELAYNETS:-}" "smtpd_authorized_xclient_hosts=${SUBNET}" \
        "virtual_mailbox_domains=${DOMAIN}" \
        "virtual_mailbox_maps=inline:{ ${mailbox}=ok, ${POSTMASTER}@${DOMAIN}=ok }"
    postconf -P "10025/inet/mynetworks=${SUBNET}"  # submission: front, once admin has accepted the login
    postfix set-permissions >/dev/null 2>&1 || true
    postfix check
    exec postfix start-fg
    ;;
imap)
    cp /conf/dovecot/dovecot.conf /etc/dovecot/dovecot.conf
    # Only front (inside SUBNET) may log in: it has checked the password with admin already (auth_http).
    cat > /etc/dovecot/trusted-front.conf <<CONF
passdb {
  driver = static
  args = nopassword=y allow_nets=${SUBNET}
}
CONF
    mkdir -p /mail && chown mail:mail /mail
    exec dovecot -F
    ;;
antispam)
    # Its configs are mounted straight into /etc/rspamd/local.d.
    mkdir -p /var/lib/rspamd /run/rspamd && chown _rspamd:_rspamd /var/lib/rspamd /run/rspamd
    exec rspamd -f -u _rspamd -g _rspamd
    ;;
*)
    echo "mailu-entrypoint: unknown role '$role'" >&2; exit 2
    ;;
esac
