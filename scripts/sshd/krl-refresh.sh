#!/bin/sh
# Keyper: keeps sshd's RevokedKeys file current with the API's Key Revocation List (/api/krlca).
# Run it as root from cron or a systemd timer, e.g. every minute:
#   * * * * * root /etc/ssh/keyper/krl-refresh.sh
# and once by hand before sshd_config names the file (sshd refuses every key while its
# RevokedKeys file is missing or unreadable):
#   /etc/ssh/keyper/krl-refresh.sh && echo 'RevokedKeys /etc/ssh/keyper/revoked_keys' >> /etc/ssh/sshd_config
#
# Settings: lines `NAME=value` in keyper.env next to this script (read as data, never executed,
# refused when anyone but its owner can write it), or the variables below:
#   KEYPER_API_URL   the API base URL, ending in /api (required): https:// only (plain http://
#                    only to 127.0.0.1, localhost or [::1], for testing); anything else is refused
#   KEYPER_KRL_FILE  the RevokedKeys file (default /etc/ssh/keyper/revoked_keys); its ETag is
#                    kept beside it in <file>.etag
#   KEYPER_TIMEOUT   seconds before giving up (default 20)
#
# It asks with If-None-Match (the ETag of the file in place), so an unchanged list costs a 304
# and no body. A new list is written to a temporary file in the same directory, checked with
# `ssh-keygen -Q` against a throwaway key (it must load as a KRL and not revoke a key made just
# now), and only then renamed over the old file, which sshd therefore never sees half-written. A
# failed, empty or odd download keeps the old file and exits non-zero, with the reason on stderr.

KEYPER_API_URL=""
KEYPER_KRL_FILE="/etc/ssh/keyper/revoked_keys"
KEYPER_TIMEOUT="20"

PATH=/usr/local/bin:/usr/bin:/bin
LC_ALL=C
export PATH LC_ALL
umask 022

me="keyper krl-refresh.sh"
conf="$(dirname -- "$0")/keyper.env"

if [ -r "$conf" ]; then
  case $(ls -ln -- "$conf") in
    ?????w* | ????????w*)
      echo "$me: $conf is writable by others than its owner (it decides which list is trusted): chmod go-w" >&2
      exit 2
      ;;
  esac
  while IFS= read -r line || [ -n "$line" ]; do
    value=${line#*=}
    value=${value#\"}
    value=${value%\"}
    case $line in
      KEYPER_API_URL=*) KEYPER_API_URL=$value ;;
      KEYPER_KRL_FILE=*) KEYPER_KRL_FILE=$value ;;
      KEYPER_TIMEOUT=*) KEYPER_TIMEOUT=$value ;;
    esac
  done < "$conf"
fi

if [ -z "$KEYPER_API_URL" ]; then
  echo "$me: KEYPER_API_URL is not set (in $conf or at the top of $0)" >&2
  exit 2
fi

# The same rule as auth.sh: the list decides which keys sshd refuses, so only TLS may carry it,
# except to this machine (127.0.0.1, localhost or [::1], an optional port), for testing.
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
case $KEYPER_API_URL in
  https://*) protocol='=https' ;;
  *)
    if is_local_http "$KEYPER_API_URL"; then
      protocol='=http'
    else
      echo "$me: KEYPER_API_URL must start with https:// (http:// only to 127.0.0.1, localhost or [::1])" >&2
      exit 2
    fi
    ;;
esac

target=$KEYPER_KRL_FILE
dir=$(dirname -- "$target")
if [ ! -d "$dir" ]; then
  echo "$me: the directory of $target does not exist" >&2
  exit 2
fi

work=$(mktemp -d "$dir/.krl-refresh.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT
trap 'exit 1' HUP INT TERM

# Ask for a new list only when the one in place is the one the ETag belongs to.
set -- -q -s -S -f -g -m "$KEYPER_TIMEOUT" --proto "$protocol" -D "$work/headers" -o "$work/krl" -w '%{http_code}'
if [ -s "$target" ] && [ -s "$target.etag" ]; then
  set -- "$@" -H "If-None-Match: $(head -n 1 -- "$target.etag")"
fi
status=$(curl "$@" "$KEYPER_API_URL/krlca" </dev/null) || {
  echo "$me: downloading $KEYPER_API_URL/krlca failed; $target is unchanged" >&2
  exit 1
}
case $status in
  304) exit 0 ;;
  200) ;;
  *)
    echo "$me: unexpected answer $status; $target is unchanged" >&2
    exit 1
    ;;
esac
if [ ! -s "$work/krl" ]; then
  echo "$me: the API answered an empty list; $target is unchanged" >&2
  exit 1
fi

# ssh-keygen -Q loads the file as sshd would: a malformed list is an error; a valid one says a
# key made just now is "ok" (exit 0).
if ! ssh-keygen -q -t ed25519 -N '' -C probe -f "$work/probe" >/dev/null 2>&1; then
  echo "$me: ssh-keygen could not make a key to check the list with; $target is unchanged" >&2
  exit 1
fi
if ! ssh-keygen -Q -f "$work/krl" "$work/probe.pub" >/dev/null 2>&1; then
  echo "$me: the downloaded list is not a valid KRL (ssh-keygen -Q); $target is unchanged" >&2
  exit 1
fi

etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]:[[:space:]]*\(.*[^[:space:]]\)[[:space:]]*$/\1/p' "$work/headers" | tail -n 1)
chmod 0644 "$work/krl"
# rename(2) in one directory: sshd reads the old file or the new one, never a mix.
mv -f -- "$work/krl" "$target" || exit 1
if [ -n "$etag" ]; then
  printf '%s\n' "$etag" > "$work/etag" && mv -f -- "$work/etag" "$target.etag"
else
  rm -f -- "$target.etag"
fi
exit 0
