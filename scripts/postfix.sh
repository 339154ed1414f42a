#!/usr/bin/env bash
# Makes sure the machine's Postfix (Debian's package) runs on loopback the way
# calinvite's SMTP tests need it, installing it when missing. Idempotent: run it
# as often as you like; it reconfigures, then starts or reloads Postfix, and
# fails loudly when Postfix does not answer on 127.0.0.1:25.
#
# Two roles:
#   1. A relay into one local mailbox (outbound tests): mail for any address at
#      `mailbox.test` or at the internationalised `bücher-müller.test` (in its
#      A-label form `xn--bcher-mller-thbg.test`; UTF-8 local parts too, with
#      SMTPUTF8), from 127.0.0.0/8 only, is delivered into ONE Maildir.
#      Postfix changes nothing in the message but prepends its trace headers
#      (Return-Path, Delivered-To, Received).
#   2. Delivery into calinvite's listener (inbound tests): mail for
#      `calinvite.test`, submitted on 127.0.0.1:25 or with `sendmail`, is
#      relayed to smtp:[127.0.0.1]:$CALINVITE_POSTFIX_LISTENER_PORT, where the
#      test binary binds the listener.
# Mail for any other domain is bounced at once: this Postfix never tries to
# reach the internet.
#
# Environment (tests read the same variables, with the same defaults):
#   CALINVITE_POSTFIX_MAILDIR        the one Maildir for `mailbox.test`
#                                    (default /var/tmp/calinvite-postfix/Maildir)
#   CALINVITE_POSTFIX_LISTENER_PORT  where mail for `calinvite.test` goes
#                                    (default 10026)
#   CALINVITE_POSTFIX_LOG            Postfix's log file
#                                    (default /var/tmp/calinvite-postfix/postfix.log)
# Postfix itself listens on 127.0.0.1:25 (SMTP) and takes `sendmail` submissions.
set -euo pipefail

maildir=${CALINVITE_POSTFIX_MAILDIR:-/var/tmp/calinvite-postfix/Maildir}
listener_port=${CALINVITE_POSTFIX_LISTENER_PORT:-10026}
log=${CALINVITE_POSTFIX_LOG:-/var/tmp/calinvite-postfix/postfix.log}

say() { printf '== %s\n' "$*"; }
die() { printf 'scripts/postfix.sh: %s\n' "$*" >&2; exit 1; }

# Answers with a 220 greeting on 127.0.0.1:25.
answers() {
  exec 3<>/dev/tcp/127.0.0.1/25 || return 1
  local line=''
  IFS= read -r -t 5 line <&3 || true
  printf 'QUIT\r\n' >&3 || true
  exec 3<&- 3>&-
  [[ $line == 220* ]]
}

case $maildir in
  /*/) maildir=${maildir%/} ;;
  /*) ;;
  *) die "CALINVITE_POSTFIX_MAILDIR must be an absolute path (got $maildir)" ;;
esac
[[ $listener_port =~ ^[0-9]+$ ]] || die "CALINVITE_POSTFIX_LISTENER_PORT must be a port number"
[ "$(id -u)" = 0 ] || die "must run as root (Postfix is the machine's mail system)"

if ! command -v postfix >/dev/null || ! command -v postconf >/dev/null; then
  say "installing Postfix from Debian's packages"
  command -v apt-get >/dev/null || die "no Postfix and no apt-get to install it"
  export DEBIAN_FRONTEND=noninteractive
  # No debconf questions, and no configuration of its own: it is written below.
  printf '%s\n' \
    'postfix postfix/main_mailer_type select No configuration' \
    'postfix postfix/mailname string postfix.loopback.test' | debconf-set-selections
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq postfix >/dev/null || die "apt-get install postfix failed"
fi
command -v smtp-sink >/dev/null || die "smtp-sink is missing (it ships in Debian's postfix package)"

# The Maildir's owner: the invoking user when sudo'd, else `nobody` (the virtual
# delivery agent never delivers as root). Root reads it either way.
uid=${SUDO_UID:-}
gid=${SUDO_GID:-}
if [ -z "$uid" ] || [ "$uid" = 0 ]; then
  uid=$(id -u nobody)
  gid=$(id -g nobody)
fi
base=$(dirname "$maildir")
mkdir -p "$maildir"/{cur,new,tmp} "$(dirname "$log")"
chown -R "$uid:$gid" "$maildir"
chown "$uid:$gid" "$base"

cf=/etc/postfix/main.cf
[ -f "$cf" ] || : >"$cf"
[ -f /etc/postfix/master.cf ] || die "/etc/postfix/master.cf is missing (reinstall postfix)"

postconf -e \
  "compatibility_level = 3.6" \
  "myhostname = postfix.loopback.test" \
  "mydomain = loopback.test" \
  "myorigin = \$myhostname" \
  "mydestination = \$myhostname, localhost" \
  "inet_interfaces = 127.0.0.1" \
  "inet_protocols = ipv4" \
  "mynetworks = 127.0.0.0/8" \
  "mynetworks_style = host" \
  "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination" \
  "smtpd_recipient_restrictions =" \
  "relay_domains = calinvite.test" \
  "transport_maps = inline:{calinvite.test=smtp:[127.0.0.1]:$listener_port}" \
  "default_transport = error:5.7.1 this loopback Postfix delivers only to mailbox.test and calinvite.test" \
  "relayhost =" \
  "virtual_mailbox_domains = mailbox.test, xn--bcher-mller-thbg.test" \
  "virtual_mailbox_base = $base" \
  "virtual_mailbox_maps = static:$(basename "$maildir")/" \
  "virtual_uid_maps = static:$uid" \
  "virtual_gid_maps = static:$gid" \
  "virtual_minimum_uid = 1" \
  "virtual_mailbox_limit = 0" \
  "message_size_limit = 52428800" \
  "local_header_rewrite_clients =" \
  "append_dot_mydomain = no" \
  "disable_mime_output_conversion = yes" \
  "always_add_missing_headers = no" \
  "enable_original_recipient = no" \
  "smtputf8_enable = yes" \
  "alias_maps =" \
  "alias_database =" \
  "biff = no" \
  "smtp_tls_security_level = none" \
  "smtpd_tls_security_level = none" \
  "smtp_connect_timeout = 5s" \
  "maillog_file = $log" \
  || die "postconf -e failed"

# No chroot: the smtp services then need no copy of /etc files in the spool.
postconf -F '*/*/chroot = n' || die "postconf -F failed"
# The log service (postlogd) writes maillog_file; Debian's master.cf has it,
# older ones may not.
if ! postconf -M postlog/unix-dgram >/dev/null 2>&1 || [ -z "$(postconf -M postlog/unix-dgram)" ]; then
  postconf -M "postlog/unix-dgram = postlog unix-dgram n - n - 1 postlogd" || die "postconf -M postlog failed"
fi

postfix check || die "postfix check failed (see $log)"
if postfix status >/dev/null 2>&1; then
  postfix reload >/dev/null 2>&1 || die "postfix reload failed (see $log)"
else
  postfix start >/dev/null 2>&1 || die "postfix start failed (see $log)"
fi

for _ in $(seq 1 40); do answers && break; sleep 0.25; done
answers || die "Postfix does not answer on 127.0.0.1:25 (see $log)"
say "Postfix ready on 127.0.0.1:25: mailbox.test -> $maildir, calinvite.test -> 127.0.0.1:$listener_port"
