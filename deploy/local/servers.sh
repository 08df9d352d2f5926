#!/usr/bin/env bash
# make servers (a step of make run and make test, and of .ci/run): make sure the servers Peluit runs on answer.
#   PostgreSQL on 127.0.0.1:5432, administrator "postgres" without a password (provisioning and tests);
#   RabbitMQ on 127.0.0.1:5672 with its default guest account (local connections only).
# As root on Debian it installs what is missing (apt-get install -y postgresql rabbitmq-server), starts what is
# down and, on a PostgreSQL cluster that holds no database yet, puts one line at the top of its pg_hba.conf,
#   host all postgres 127.0.0.1/32 trust
# (the original is kept as pg_hba.conf.before-peluit) and reloads it. A cluster that holds databases keeps its
# authentication as it is. Otherwise it prints the exact command to run and exits 1. When both answer, it
# changes nothing. With PELUIT_PG_ADMIN_DSN set, PostgreSQL is yours: that DSN is only checked.
# Local demo and tests only: a production deployment brings its own servers.
set -uo pipefail
PATH="$PATH:/usr/sbin:/sbin"

PG_PORT=5432
AMQP_PORT=5672
ADMIN_DSN="${PELUIT_PG_ADMIN_DSN:-host=127.0.0.1 port=$PG_PORT user=postgres dbname=postgres}"
export PGCONNECT_TIMEOUT=3
LOCAL_PG=$([ -z "${PELUIT_PG_ADMIN_DSN:-}" ] && echo yes || echo no)
HBA_LINE="host all postgres 127.0.0.1/32 trust"

say() { echo "servers: $*"; }
fail() { echo "servers: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pg_installed() { command -v pg_lsclusters >/dev/null && command -v psql >/dev/null; }
pg_answers() { pg_isready -q -h 127.0.0.1 -p "$PG_PORT" -t 3; }
pg_login() { psql -w -Atq "$ADMIN_DSN" -c 'SELECT 1' >/dev/null 2>&1; }
pg_cluster() { pg_lsclusters -h 2>/dev/null | awk -v p="$PG_PORT" '$3 == p { print $1, $2; exit }'; }
amqp_answers() { port_open "$AMQP_PORT"; }
wait_for() {  # check, name
  for _ in $(seq 1 120); do "$1" && return 0; sleep 1; done
  fail "$2 does not answer after 120 s (see its log under /var/log/)"
}

# 1. install what is missing (a server someone else runs on the port counts as present)
missing=()
if [ "$LOCAL_PG" = no ]; then
  command -v psql >/dev/null || missing+=(postgresql-client)
else
  pg_installed || port_open "$PG_PORT" || missing+=(postgresql)
  pg_installed || ! port_open "$PG_PORT" || fail "something answers on 127.0.0.1:$PG_PORT, but psql is missing to check it: apt-get install -y postgresql-client"
fi
command -v rabbitmq-server >/dev/null || amqp_answers || missing+=(rabbitmq-server)
if [ ${#missing[@]} -gt 0 ]; then
  is_root || fail "not installed: ${missing[*]}. Run as root: apt-get install -y ${missing[*]}"
  command -v apt-get >/dev/null || fail "not installed: ${missing[*]}, and this is not Debian (no apt-get): install them yourself"
  say "installing ${missing[*]} from Debian ..."
  # a UTF8 cluster even where no locale is set (a container): under SQL_ASCII psycopg refuses non-ASCII text
  apt-get update -qq && LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || fail "apt-get install -y ${missing[*]} failed"
fi

# 2. PostgreSQL: start it, then let the administrator in from 127.0.0.1
if [ "$LOCAL_PG" = no ]; then
  pg_login || fail "PELUIT_PG_ADMIN_DSN does not log in (psql \"\$PELUIT_PG_ADMIN_DSN\" says why)"
fi
if [ "$LOCAL_PG" = yes ] && ! pg_answers; then
  cluster=$(pg_cluster)
  if [ -z "$cluster" ] && is_root && [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    say "creating PostgreSQL cluster $version main ..."
    pg_createcluster --locale C.UTF-8 --port "$PG_PORT" "$version" main >/dev/null || fail "pg_createcluster failed"
    cluster="$version main"
  fi
  [ -n "$cluster" ] || fail "no PostgreSQL cluster on port $PG_PORT (pg_lsclusters). As root: pg_createcluster --locale C.UTF-8 --port $PG_PORT <version> main"
  is_root || fail "PostgreSQL $cluster is down. Run as root: pg_ctlcluster $cluster start"
  say "starting PostgreSQL $cluster ..."
  pg_ctlcluster $cluster start  # through systemctl where systemd runs, directly in a container
  wait_for pg_answers PostgreSQL
fi
if [ "$LOCAL_PG" = yes ] && ! pg_login; then
  cluster=$(pg_cluster)
  read -r version name <<<"$cluster"
  hba="/etc/postgresql/$version/$name/pg_hba.conf"
  [ -n "$cluster" ] && [ -f "$hba" ] \
    || fail "PostgreSQL on 127.0.0.1:$PG_PORT refuses user postgres without a password, and it is not a Debian cluster this script knows: allow '$HBA_LINE' in its pg_hba.conf"
  fix="sed -i '1i $HBA_LINE' $hba && pg_ctlcluster $version $name reload"
  is_root || fail "PostgreSQL $cluster refuses user postgres on 127.0.0.1 without a password. As root: $fix"
  others=$(runuser -u postgres -- psql -p "$PG_PORT" -Atqc \
    "SELECT count(*) FROM pg_database WHERE datname NOT IN ('postgres', 'template0', 'template1')" 2>/dev/null)
  [ "$others" = 0 ] || fail "PostgreSQL $cluster refuses user postgres on 127.0.0.1 without a password; it holds databases, so its authentication is yours to change: $fix"
  say "letting user postgres in from 127.0.0.1 without a password ($hba, a new cluster) ..."
  cp -p "$hba" "$hba.before-peluit"
  sed -i "1i # Peluit (deploy/local/servers.sh): local demo and tests connect as postgres from 127.0.0.1, no password\n$HBA_LINE" "$hba"
  pg_ctlcluster $version $name reload
  wait_for pg_login "PostgreSQL login as postgres"
fi
encoding=$(psql -w -Atq "$ADMIN_DSN" -c "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = 'template1'")
[ "$encoding" = UTF8 ] || fail "PostgreSQL's template1 is $encoding; Peluit's databases need UTF8 (a cluster made with --locale C.UTF-8)"

# 3. RabbitMQ: start it
if ! amqp_answers; then
  if [ -d /run/systemd/system ]; then start="systemctl start rabbitmq-server"; else start="rabbitmq-server -detached"; fi
  is_root || fail "RabbitMQ does not answer on 127.0.0.1:$AMQP_PORT. Run as root: $start"
  say "starting RabbitMQ ..."
  $start
  wait_for amqp_answers RabbitMQ
fi
exit 0
