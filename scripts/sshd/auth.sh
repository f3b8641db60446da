#!/bin/sh
# Keyper: sshd's AuthorizedKeysCommand. Prints the public keys that Keyper allows to log in as
# the requested account on this host, one authorized_keys line each, and nothing else.
# `auth.sh --principals <user> <fingerprint> <serial>` (how authprinc.sh runs it, as sshd's
# AuthorizedPrincipalsCommand) prints the principals Keyper allows for that certificate instead.
#
# Install (root-owned, mode 0755, in a directory only root can write, as sshd requires):
#   install -d -o root -g root -m 0755 /etc/ssh/keyper
#   install -o root -g root -m 0755 auth.sh /etc/ssh/keyper/auth.sh
#   printf 'KEYPER_API_URL=https://keyper.example.org/api\n' > /etc/ssh/keyper/keyper.env
# sshd_config:
#   AuthorizedKeysCommand /etc/ssh/keyper/auth.sh %u %f
#   AuthorizedKeysCommandUser nobody
#
# Settings: the variables below, or lines `NAME=value` in keyper.env next to this script (read as
# data, never executed, and refused when anyone but its owner can write it; sshd gives the command
# a clean environment, so exported variables do not reach it):
#   KEYPER_API_URL   the API base URL, ending in /api (required): https:// only (plain http://
#                    only to 127.0.0.1, localhost or [::1], for testing); anything else is refused
#   KEYPER_HOSTNAME  this host's name in Keyper (default: `uname -n`)
#   KEYPER_TIMEOUT   seconds before giving up (default 5; sshd waits for us at every login)
#   KEYPER_HOST_TOKEN  in keyper.env only: this host's credential, when an administrator gave
#                    it one. keyper.env must then be readable by root and the group of
#                    AuthorizedKeysCommandUser alone (chmod 0640). Sent as `Authorization: Bearer`.
#
# Fails closed: any error (no URL, API unreachable, non-2xx answer, timeout) prints nothing and
# exits non-zero, and sshd then accepts no key from this command. The answer is printed only once
# it has arrived completely, so a broken transfer never yields a partial list.

KEYPER_API_URL=""
KEYPER_HOSTNAME=""
KEYPER_TIMEOUT="5"
# KEYPER_HOST_TOKEN: from keyper.env only, since this script is readable by everyone.
host_token=""

PATH=/usr/local/bin:/usr/bin:/bin
LC_ALL=C
export PATH LC_ALL
umask 077

conf="$(dirname -- "$0")/keyper.env"

# Whether file $1 can be changed by others than its owner (group or other write bit): keyper.env
# says which API to trust for keys, so such a file would let them choose who logs in.
others_can_write() {
  case $(ls -ln -- "$1") in
    ?????w* | ????????w*) return 0 ;;
  esac
  return 1
}

if [ -r "$conf" ]; then
  if others_can_write "$conf"; then
    echo "keyper auth.sh: $conf is writable by others than its owner (it decides whose keys are trusted): chmod go-w" >&2
    exit 2
  fi
  while IFS= read -r line || [ -n "$line" ]; do
    value=${line#*=}
    value=${value#\"}
    value=${value%\"}
    case $line in
      KEYPER_API_URL=*) KEYPER_API_URL=$value ;;
      KEYPER_HOSTNAME=*) KEYPER_HOSTNAME=$value ;;
      KEYPER_TIMEOUT=*) KEYPER_TIMEOUT=$value ;;
      KEYPER_HOST_TOKEN=*) host_token=$value ;;
    esac
  done < "$conf"
fi

route=authkeys
if [ "${1-}" = "--principals" ]; then
  route=authprinc
  shift
fi
user=${1-}
fingerprint=${2-}
serial=${3-}
host=${KEYPER_HOSTNAME:-$(uname -n)}

if [ -z "$user" ] || [ -z "$host" ] || { [ "$route" = authprinc ] && { [ -z "$fingerprint" ] || [ -z "$serial" ]; }; }; then
  echo "keyper auth.sh: usage: auth.sh <user> [<fingerprint>], or auth.sh --principals <user> <fingerprint> <serial>" >&2
  exit 2
fi
if [ -z "$KEYPER_API_URL" ]; then
  echo "keyper auth.sh: KEYPER_API_URL is not set (in $conf or at the top of $0)" >&2
  exit 2
fi

# Whether $1 is http:// to this machine: the authority (up to the first /) must be exactly
# 127.0.0.1, localhost or [::1], with an optional numeric port. Compared whole, so user info
# (http://127.0.0.1@elsewhere), longer names (localhost.example) and other loopback spellings fail.
is_local_http() {
  authority=${1#http://}
  [ "$authority" != "$1" ] || return 1
  authority=${authority%%/*}
  for local_host in 127.0.0.1 localhost '[::1]'; do
    port=${authority#"$local_host"}
    [ "$port" != "$authority" ] || continue
    case $port in
      '') return 0 ;;
      :*[!0-9]* | :) return 1 ;;
      :*) return 0 ;;
    esac
  done
  return 1
}

# Keys decide who logs in: only TLS may carry them (anyone on the path of plain HTTP could answer
# with their own), except to this machine, for testing.
case $KEYPER_API_URL in
  https://*) protocol='=https' ;;
  *)
    if is_local_http "$KEYPER_API_URL"; then
      protocol='=http'
    else
      echo "keyper auth.sh: KEYPER_API_URL must start with https:// (http:// only to 127.0.0.1, localhost or [::1])" >&2
      exit 2
    fi
    ;;
esac

# The host token is a secret: refuse to use one that others can read (as ssh refuses a private key
# file others can read), and anything but the base64url text the API hands out.
if [ -n "$host_token" ]; then
  case $(ls -ln -- "$conf") in
    ???????r*)
      echo "keyper auth.sh: $conf holds KEYPER_HOST_TOKEN and is readable by others: chmod 0640" >&2
      exit 2
      ;;
  esac
  case $host_token in
    *[!A-Za-z0-9_-]*)
      echo "keyper auth.sh: KEYPER_HOST_TOKEN in $conf is not a token as the API gives it" >&2
      exit 2
      ;;
  esac
fi

# -q first: ignore any .curlrc. -f: an HTTP error status is a failure. --proto: only the scheme
# checked above. -g: no URL globbing ({a,b} or [1-9] would make several requests).
set -- -q -s -f -g -m "$KEYPER_TIMEOUT" --proto "$protocol" -G \
  --data-urlencode "username=$user" --data-urlencode "host=$host"
if [ -n "$fingerprint" ]; then
  set -- "$@" --data-urlencode "fingerprint=$fingerprint"
fi
if [ "$route" = authprinc ]; then
  set -- "$@" --data-urlencode "serial=$serial"
fi

# The token goes to curl on its standard input (-H @-), never on its command line, which every
# local user can read.
if [ -n "$host_token" ]; then
  keys=$(printf 'Authorization: Bearer %s\n' "$host_token" | curl "$@" -H @- "$KEYPER_API_URL/$route") || exit 1
else
  keys=$(curl "$@" "$KEYPER_API_URL/$route" </dev/null) || exit 1
fi
if [ -n "$keys" ]; then
  printf '%s\n' "$keys"
fi
exit 0
