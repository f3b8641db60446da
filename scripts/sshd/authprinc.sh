#!/bin/sh
# Keyper: sshd's AuthorizedPrincipalsCommand. Prints the principal (the login name) that Keyper
# allows for the offered certificate on this host, or nothing: auth.sh beside it does the work
# (`auth.sh --principals`), with the same keyper.env, https-only rule, host token and failing
# closed (any error prints nothing and exits non-zero; sshd then accepts no principal).
#
# Install next to auth.sh (root-owned, mode 0755, in a directory only root can write):
#   install -o root -g root -m 0755 authprinc.sh /etc/ssh/keyper/authprinc.sh
# sshd_config:
#   TrustedUserCAKeys /etc/ssh/keyper/user_ca.pub
#   AuthorizedPrincipalsCommand /etc/ssh/keyper/authprinc.sh %u %f %s
#   AuthorizedPrincipalsCommandUser nobody
exec /bin/sh "$(dirname -- "$0")/auth.sh" --principals "$@"
