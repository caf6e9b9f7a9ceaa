#!/usr/bin/env bash
# Backing services for the integration tests, run as plain processes on
# loopback (no containers): Kafka (KRaft, single node), PostgreSQL, Redis and
# ClickHouse. Missing packages are installed on the fly (Debian apt, Maven
# Central for the Kafka jars), so this works on a fresh Debian 12 machine.
#
# Usage:
#   scripts/services.sh up [SERVICE...]     install + start (default: all), wait
#                                           until ready, print the env lines
#   scripts/services.sh down [SERVICE...]   stop (default: all); data is kept
#   scripts/services.sh start SERVICE       same as: up SERVICE
#   scripts/services.sh stop SERVICE        same as: down SERVICE
#   scripts/services.sh env                 print the env lines
#   scripts/services.sh status              show which services run (stderr)
#   scripts/services.sh reset               down + delete all service data
#
#   SERVICE is one of: kafka postgres redis clickhouse
#   Typical use:  eval "$(scripts/services.sh up)"
#
# Only the `export NAME=value` lines go to stdout; progress goes to stderr.
#
# Environment (all optional):
#   HAZELNUT_SERVICES_DIR            state dir: data, logs, pid files
#                                    (default: <repo>/.services)
#   HAZELNUT_KAFKA_PORT              Kafka PLAINTEXT listener   (19092)
#   HAZELNUT_KAFKA_CONTROLLER_PORT   Kafka KRaft controller     (19093)
#   HAZELNUT_POSTGRES_PORT           PostgreSQL                 (15432)
#   HAZELNUT_REDIS_PORT              Redis                      (16379)
#   HAZELNUT_CLICKHOUSE_PORT         ClickHouse native protocol (19000)
#   HAZELNUT_CLICKHOUSE_HTTP_PORT    ClickHouse HTTP            (18123)
#   HAZELNUT_SERVICES_TIMEOUT        seconds to wait for a service to answer (120)
#   HAZELNUT_SERVICES_STOP_TIMEOUT   seconds to wait for a clean stop before
#                                    SIGKILL (60)
#   HAZELNUT_KAFKA_HEAP_OPTS         broker heap flags ("-Xms256m -Xmx768m")
#   HAZELNUT_POSTGRES_VERSION        Debian PostgreSQL major version (15)
#
# Everything listens on 127.0.0.1 only. The Kafka version is set in
# scripts/kafka/pom.xml.

set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
STATE_DIR=$(realpath -m "${HAZELNUT_SERVICES_DIR:-$REPO_ROOT/.services}")

HOST=127.0.0.1
KAFKA_PORT=${HAZELNUT_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${HAZELNUT_KAFKA_CONTROLLER_PORT:-19093}
POSTGRES_PORT=${HAZELNUT_POSTGRES_PORT:-15432}
REDIS_PORT=${HAZELNUT_REDIS_PORT:-16379}
CLICKHOUSE_PORT=${HAZELNUT_CLICKHOUSE_PORT:-19000}
CLICKHOUSE_HTTP_PORT=${HAZELNUT_CLICKHOUSE_HTTP_PORT:-18123}
READY_TIMEOUT=${HAZELNUT_SERVICES_TIMEOUT:-120}
STOP_TIMEOUT=${HAZELNUT_SERVICES_STOP_TIMEOUT:-60}
KAFKA_HEAP_OPTS=${HAZELNUT_KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
PG_VERSION=${HAZELNUT_POSTGRES_VERSION:-15}

POSTGRES_USER=hazelnut
POSTGRES_PASSWORD=hazelnut
POSTGRES_DB=hazelnut

# Fixed KRaft cluster id (base64url of 16 bytes) so the storage format is reproducible.
KAFKA_CLUSTER_ID=aGF6ZWxudXQtdGVzdC1rMQ

ALL_SERVICES=(kafka postgres redis clickhouse)

KAFKA_DIR=$STATE_DIR/kafka
KAFKA_LIB=$KAFKA_DIR/lib
REDIS_DIR=$STATE_DIR/redis
CLICKHOUSE_DIR=$STATE_DIR/clickhouse
PG_LINK=$STATE_DIR/postgres
PG_BIN=/usr/lib/postgresql/$PG_VERSION/bin

log() { printf '[services] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ---------------------------------------------------------------------------
# helpers

print_env() {
	echo "export HAZELNUT_KAFKA_BROKERS=$HOST:$KAFKA_PORT"
	echo "export HAZELNUT_POSTGRES_URL=postgres://$POSTGRES_USER:$POSTGRES_PASSWORD@$HOST:$POSTGRES_PORT/$POSTGRES_DB?sslmode=disable"
	echo "export HAZELNUT_CLICKHOUSE_ADDR=$HOST:$CLICKHOUSE_PORT"
	echo "export HAZELNUT_REDIS_ADDR=$HOST:$REDIS_PORT"
}

is_root() { [[ $EUID -eq 0 ]]; }

now_ms() { date +%s%3N; }

# port_open PORT: something accepts TCP connections on $HOST:PORT.
port_open() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# cmdline_has PID MARKER: the live (non-zombie) process PID has every
# '|'-separated part of MARKER in its command line.
cmdline_has() {
	local pid=$1 part parts
	[[ -n $pid ]] || return 1
	read_cmdline "$pid" || return 1
	[[ -n $CMDLINE ]] || return 1
	IFS='|' read -r -a parts <<<"$2"
	for part in "${parts[@]}"; do
		[[ $CMDLINE == *"$part"* ]] || return 1
	done
}

# read_cmdline PID: set CMDLINE to the space-joined command line of PID (no fork).
read_cmdline() {
	local args=()
	CMDLINE=
	mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 1
	CMDLINE=${args[*]}
}

# find_pid PIDFILE MARKER: pid of our process (pid file first, then a scan of
# /proc for the state-dir specific MARKER in the command line).
find_pid() {
	local pidfile=$1 marker=$2 pid f
	if [[ -s $pidfile ]]; then
		pid=$(<"$pidfile")
		if cmdline_has "$pid" "$marker"; then
			echo "$pid"
			return 0
		fi
	fi
	for f in /proc/[0-9]*/cmdline; do
		pid=${f#/proc/}
		pid=${pid%/cmdline}
		[[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
		if cmdline_has "$pid" "$marker"; then
			# skip helper shells (e.g. this script) that merely mention the marker
			[[ $CMDLINE != *services.sh* ]] || continue
			echo "$pid"
			return 0
		fi
	done
	return 0
}

# launch PIDFILE OUTFILE CMD...: start CMD detached (own session, stdin from
# /dev/null, stdout+stderr appended to OUTFILE, every other inherited file
# descriptor closed, so callers reading our output never hang) and record its pid.
launch() {
	local pidfile=$1 out=$2
	shift 2
	rm -f "$pidfile"
	printf '==== %s: starting %s\n' "$(date '+%F %T')" "$*" >>"$out"
	# shellcheck disable=SC2016 # expanded by the inner shell
	setsid bash -c '
		for f in /proc/$$/fd/*; do
			n=${f##*/}
			if ((n > 2)); then eval "exec $n>&-" 2>/dev/null; fi
		done
		echo $$ >"$0"
		exec "$@"
	' "$pidfile" "$@" </dev/null >>"$out" 2>&1 9>&- &
	local i
	for ((i = 0; i < 100; i++)); do
		[[ -s $pidfile ]] && return 0
		sleep 0.05
	done
	die "could not launch $1"
}

# stop_pid NAME PID SIGNAL MARKER: signal PID and wait until it is gone (SIGKILL after STOP_TIMEOUT).
stop_pid() {
	local name=$1 pid=$2 sig=$3 marker=$4 start
	log "$name: stopping (pid $pid)"
	kill "-$sig" "$pid" 2>/dev/null || true
	start=$SECONDS
	while cmdline_has "$pid" "$marker"; do
		if ((SECONDS - start >= STOP_TIMEOUT)); then
			log "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			start=$SECONDS
			while cmdline_has "$pid" "$marker" && ((SECONDS - start < 10)); do sleep 0.1; done
			break
		fi
		sleep 0.1
	done
	cmdline_has "$pid" "$marker" && die "$name: could not stop pid $pid"
	return 0
}

wait_port_closed() {
	local name=$1 port=$2 start=$SECONDS
	while port_open "$port"; do
		((SECONDS - start < 30)) || die "$name: port $port still open after stopping; another process is listening on it"
		sleep 0.1
	done
}

# fail NAME LOGFILE... : report a start failure with the tail of the logs.
fail() {
	local name=$1 f
	shift
	for f in "$@"; do
		if [[ -s $f ]]; then
			log "---- last lines of $f ----"
			tail -n 30 "$f" >&2 || true
		fi
	done
	die "$name failed (log tails above; state dir $STATE_DIR)"
}

# foreign_port_check NAME PORT...: die if a port is already taken by a process that is not ours.
foreign_port_check() {
	local name=$1 p
	shift
	for p in "$@"; do
		if port_open "$p"; then
			die "$name: port $HOST:$p is already in use by another process ($(ss -Hltnp "sport = :$p" 2>/dev/null | awk '{print $NF}' | head -n1))"
		fi
	done
}

# ---------------------------------------------------------------------------
# package installation

POLICY_RC=/usr/sbin/policy-rc.d
POLICY_RC_CREATED=0
APT_UPDATED=0

MVN_JOB=

cleanup() {
	# never leave a background Maven download behind
	if [[ -n $MVN_JOB ]]; then
		wait "$MVN_JOB" 2>/dev/null || true
		MVN_JOB=
	fi
	remove_policy_rc
}

remove_policy_rc() {
	if ((POLICY_RC_CREATED)); then
		rm -f "$POLICY_RC"
		POLICY_RC_CREATED=0
	fi
}
trap cleanup EXIT

apt_install() {
	(($# > 0)) || return 0
	is_root || die "missing packages: $* (run as root, or install them first)"
	log "installing Debian packages: $*"
	export DEBIAN_FRONTEND=noninteractive
	# Keep the packages' own init scripts from starting system-wide instances.
	if [[ ! -e $POLICY_RC ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
		chmod 755 "$POLICY_RC"
		POLICY_RC_CREATED=1
	fi
	mkdir -p "$STATE_DIR"
	local alog=$STATE_DIR/apt.log
	if ((!APT_UPDATED)); then
		apt-get update >>"$alog" 2>&1 || fail "apt-get update" "$alog"
		APT_UPDATED=1
	fi
	apt-get install -y --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
		"$@" </dev/null >>"$alog" 2>&1 || fail "apt-get install $*" "$alog"
	remove_policy_rc
	# In case an init script started a system instance anyway, stop it.
	local s
	for s in postgresql redis-server clickhouse-server; do
		if [[ -x /etc/init.d/$s ]] && service "$s" status >/dev/null 2>&1; then
			log "stopping system service $s started by the package"
			service "$s" stop >&2 || true
		fi
	done
}

# missing_packages SERVICE...: Debian packages needed by these services that are not installed.
missing_packages() {
	local s pkgs=()
	for s in "$@"; do
		case $s in
		kafka)
			{ command -v java >/dev/null && command -v javac >/dev/null; } || pkgs+=(openjdk-17-jdk-headless)
			command -v mvn >/dev/null || pkgs+=(maven)
			;;
		postgres)
			[[ -x $PG_BIN/postgres && -x $PG_BIN/psql && -x $PG_BIN/pg_isready ]] || pkgs+=("postgresql-$PG_VERSION")
			;;
		redis)
			{ command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } || pkgs+=(redis-server redis-tools)
			;;
		clickhouse)
			{ command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; } || pkgs+=(clickhouse-server clickhouse-client)
			;;
		esac
	done
	echo "${pkgs[*]}"
}

# ---------------------------------------------------------------------------
# kafka

KAFKA_PIDFILE=$KAFKA_DIR/kafka.pid
KAFKA_CONF=$KAFKA_DIR/server.properties
KAFKA_OUT=$KAFKA_DIR/logs/kafka.out

KAFKA_MARKER="kafka.Kafka|$KAFKA_CONF"
kafka_pid() { find_pid "$KAFKA_PIDFILE" "$KAFKA_MARKER"; }

kafka_pom_sha() { sha256sum "$SCRIPT_DIR/kafka/pom.xml" | cut -d' ' -f1; }

# kafka_jars_missing: the jars in the state dir do not match scripts/kafka/pom.xml.
kafka_jars_missing() {
	local stamp=$KAFKA_LIB/.pom.sha256
	[[ ! -s $stamp || $(<"$stamp") != "$(kafka_pom_sha)" ]]
}

kafka_fetch_jars() {
	local want
	want=$(kafka_pom_sha)
	log "kafka: fetching broker jars with Maven (scripts/kafka/pom.xml)"
	rm -rf "$KAFKA_LIB"
	mkdir -p "$KAFKA_LIB" "$KAFKA_DIR/logs"
	mvn -B -ntp -Dstyle.color=never -f "$SCRIPT_DIR/kafka/pom.xml" dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$KAFKA_LIB" </dev/null >"$KAFKA_DIR/logs/maven.log" 2>&1 ||
		fail "kafka jar download (maven)" "$KAFKA_DIR/logs/maven.log"
	echo "$want" >"$KAFKA_LIB/.pom.sha256"
}

kafka_install() {
	if kafka_jars_missing; then kafka_fetch_jars; fi
	local src=$SCRIPT_DIR/kafka/ReadyCheck.java cls=$KAFKA_DIR/check/ReadyCheck.class
	if [[ ! -f $cls || $src -nt $cls || $KAFKA_LIB/.pom.sha256 -nt $cls ]]; then
		mkdir -p "$KAFKA_DIR/check"
		javac -nowarn -d "$KAFKA_DIR/check" -cp "$KAFKA_LIB/*" "$src" >&2 ||
			die "kafka: could not compile $src"
	fi
}

kafka_write_config() {
	mkdir -p "$KAFKA_DIR/data" "$KAFKA_DIR/logs"
	cat >"$KAFKA_CONF" <<EOF
# Generated by scripts/services.sh on each start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DIR/data
num.network.threads=2
num.io.threads=4
num.partitions=4
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=67108864
EOF
	cat >"$KAFKA_DIR/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="$KAFKA_DIR/logs/server.log" filePattern="$KAFKA_DIR/logs/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="50 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="WARN"/>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="kafka.network.RequestChannel\$" level="WARN"/>
    <Logger name="state.change.logger" level="WARN"/>
    <Logger name="kafka.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.storage.internals.log.LogCleaner" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="WARN"/>
  </Loggers>
</Configuration>
EOF
	cat >"$KAFKA_DIR/log4j2-tools.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="stderr" target="SYSTEM_ERR"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console>
  </Appenders>
  <Loggers>
    <Root level="ERROR"><AppenderRef ref="stderr"/></Root>
  </Loggers>
</Configuration>
EOF
}

kafka_tool() {
	java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$KAFKA_DIR/log4j2-tools.xml" \
		-cp "$KAFKA_DIR/check:$KAFKA_LIB/*" "$@"
}

kafka_launch() {
	foreign_port_check kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
	kafka_write_config
	if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
		log "kafka: formatting storage (cluster id $KAFKA_CLUSTER_ID)"
		kafka_tool kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_CONF" \
			>>"$KAFKA_DIR/logs/format.log" 2>&1 || fail "kafka storage format" "$KAFKA_DIR/logs/format.log"
	fi
	log "kafka: starting on $HOST:$KAFKA_PORT"
	# shellcheck disable=SC2086 # heap options are a list of flags
	launch "$KAFKA_PIDFILE" "$KAFKA_OUT" \
		java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
		-XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
		-Dkafka.logs.dir="$KAFKA_DIR/logs" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.xml" \
		-cp "$KAFKA_LIB/*" kafka.Kafka "$KAFKA_CONF"
}

# kafka_ping [TIMEOUT]: the broker answers an ApiVersions request (cheap, no JVM).
kafka_ping() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	timeout "${1:-3}" bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "\x00\x00\x00\x0e\x00\x12\x00\x00\x00\x00\x00\x2a\x00\x04ping" >&3
		r=$(head -c 8 <&3 | od -An -tx1 | tr -d " \n")
		[[ ${r:8:8} == 0000002a ]]
	' "$HOST" "$KAFKA_PORT" 2>/dev/null
}

kafka_wait() {
	local pid
	pid=$(kafka_pid)
	[[ -n $pid ]] || fail kafka "$KAFKA_OUT" "$KAFKA_DIR/logs/server.log"
	# Real check (retries until the deadline, gives up if the broker exits):
	# describe the cluster, list topics and validate a topic creation.
	if ! kafka_tool ReadyCheck "$HOST:$KAFKA_PORT" "$READY_TIMEOUT" "$pid" >"$KAFKA_DIR/logs/ready-check.log" 2>&1; then
		fail kafka "$KAFKA_DIR/logs/ready-check.log" "$KAFKA_OUT" "$KAFKA_DIR/logs/server.log"
	fi
	echo "$pid" >"$KAFKA_DIR/ready"
}

kafka_stop() {
	local pid
	pid=$(kafka_pid)
	if [[ -n $pid ]]; then
		stop_pid kafka "$pid" TERM "$KAFKA_MARKER"
		wait_port_closed kafka "$KAFKA_PORT"
		wait_port_closed kafka "$KAFKA_CONTROLLER_PORT"
	fi
	rm -f "$KAFKA_PIDFILE" "$KAFKA_DIR/ready"
}

# ---------------------------------------------------------------------------
# postgres (runs as the `postgres` OS user: the server refuses to run as root)

PG_OS_USER=postgres

# pg_home: directory holding the cluster (a symlink to a fallback location
# when the state dir is not reachable by the postgres user).
pg_home() {
	if [[ -L $PG_LINK ]]; then readlink -f "$PG_LINK"; else printf '%s\n' "$PG_LINK"; fi
}

as_pg() {
	if is_root; then
		setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@"
	else
		"$@"
	fi
}

pg_marker() { printf '%s\n' "bin/postgres|-D $(pg_home)/data"; }
pg_pid() { find_pid "$(pg_home)/postgres.pid" "$(pg_marker)"; }

pg_prepare_dir() {
	local home
	home=$(pg_home)
	mkdir -p "$home"
	is_root || return 0
	id "$PG_OS_USER" >/dev/null 2>&1 || die "postgres: OS user $PG_OS_USER does not exist"
	chown "$PG_OS_USER:" "$home"
	chmod 700 "$home"
	if ! (cd / && as_pg test -w "$home"); then
		[[ -L $PG_LINK ]] && die "postgres: $home is not writable by $PG_OS_USER"
		local alt
		alt=/var/tmp/hazelnut-services-$(printf '%s' "$STATE_DIR" | cksum | cut -d' ' -f1)/postgres
		log "postgres: $home is not reachable by user $PG_OS_USER; keeping the cluster in $alt"
		mkdir -p "$alt"
		chown "$PG_OS_USER:" "$alt"
		chmod 700 "$alt"
		rm -rf "$home"
		ln -s "$alt" "$PG_LINK"
	fi
}

pg_launch() {
	foreign_port_check postgres "$POSTGRES_PORT"
	pg_prepare_dir
	local home data
	home=$(pg_home)
	data=$home/data
	if [[ ! -f $data/PG_VERSION ]]; then
		log "postgres: initdb in $data"
		rm -rf "$data"
		(cd / && as_pg "$PG_BIN/initdb" -D "$data" -N -U postgres --auth=trust -E UTF8 --locale=C.UTF-8) \
			>"$home/initdb.log" 2>&1 || fail "postgres initdb" "$home/initdb.log"
		echo "include_if_exists = 'hazelnut.conf'" >>"$data/postgresql.conf"
	fi
	cat >"$data/hazelnut.conf" <<EOF
# Generated by scripts/services.sh on each start; edits are overwritten.
listen_addresses = '$HOST'
port = $POSTGRES_PORT
unix_socket_directories = ''
max_connections = 200
shared_buffers = 128MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF
	if is_root; then chown "$PG_OS_USER:" "$data/hazelnut.conf"; fi
	log "postgres: starting on $HOST:$POSTGRES_PORT"
	if is_root; then
		(cd / && launch "$home/postgres.pid" "$home/postgres.log" \
			setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$PG_BIN/postgres" -D "$data")
	else
		(cd / && launch "$home/postgres.pid" "$home/postgres.log" "$PG_BIN/postgres" -D "$data")
	fi
}

pg_ping() { "$PG_BIN/pg_isready" -q -h "$HOST" -p "$POSTGRES_PORT" -U postgres -d postgres -t 2 2>/dev/null; }

pg_psql() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$POSTGRES_PORT" "$@"; }

pg_wait() {
	local pid home deadline=$((SECONDS + READY_TIMEOUT))
	home=$(pg_home)
	pid=$(pg_pid)
	until pg_ping; do
		cmdline_has "$pid" "$(pg_marker)" || fail postgres "$home/postgres.log"
		((SECONDS < deadline)) || fail postgres "$home/postgres.log"
		sleep 0.1
	done
	# Role and database for the tests (idempotent).
	pg_psql -U postgres -d postgres >&2 <<EOF || fail postgres "$home/postgres.log"
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$POSTGRES_USER') THEN
    CREATE ROLE $POSTGRES_USER LOGIN SUPERUSER PASSWORD '$POSTGRES_PASSWORD';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE $POSTGRES_DB OWNER $POSTGRES_USER'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$POSTGRES_DB') \gexec
EOF
	PGPASSWORD=$POSTGRES_PASSWORD pg_psql -U "$POSTGRES_USER" -d "$POSTGRES_DB" -tAc 'SELECT 1' >/dev/null ||
		fail postgres "$home/postgres.log"
	echo "$pid" >"$home/ready"
}

pg_stop() {
	local pid home
	home=$(pg_home)
	pid=$(pg_pid)
	# SIGINT = "fast" shutdown: does not wait for clients to disconnect.
	if [[ -n $pid ]]; then
		stop_pid postgres "$pid" INT "$(pg_marker)"
		wait_port_closed postgres "$POSTGRES_PORT"
	fi
	rm -f "$home/postgres.pid" "$home/ready"
}

# ---------------------------------------------------------------------------
# redis (no persistence)

REDIS_PIDFILE=$REDIS_DIR/redis.pid
REDIS_CONF=$REDIS_DIR/redis.conf

REDIS_MARKER="redis-server|$REDIS_CONF"
redis_pid() { find_pid "$REDIS_PIDFILE" "$REDIS_MARKER"; }

redis_launch() {
	foreign_port_check redis "$REDIS_PORT"
	mkdir -p "$REDIS_DIR"
	cat >"$REDIS_CONF" <<EOF
# Generated by scripts/services.sh on each start; edits are overwritten.
bind $HOST
port $REDIS_PORT
protected-mode yes
daemonize no
dir "$REDIS_DIR"
logfile "$REDIS_DIR/redis.log"
loglevel notice
save ""
appendonly no
databases 16
proc-title-template "{title} {listen-addr} {config-file}"
EOF
	log "redis: starting on $HOST:$REDIS_PORT"
	launch "$REDIS_PIDFILE" "$REDIS_DIR/redis.out" redis-server "$REDIS_CONF"
}

redis_ping() { [[ $(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; }

redis_wait() {
	local pid deadline=$((SECONDS + READY_TIMEOUT))
	pid=$(redis_pid)
	until redis_ping; do
		cmdline_has "$pid" "$REDIS_MARKER" || fail redis "$REDIS_DIR/redis.out" "$REDIS_DIR/redis.log"
		((SECONDS < deadline)) || fail redis "$REDIS_DIR/redis.out" "$REDIS_DIR/redis.log"
		sleep 0.1
	done
	echo "$pid" >"$REDIS_DIR/ready"
}

redis_stop() {
	local pid
	pid=$(redis_pid)
	if [[ -n $pid ]]; then
		stop_pid redis "$pid" TERM "$REDIS_MARKER"
		wait_port_closed redis "$REDIS_PORT"
	fi
	rm -f "$REDIS_PIDFILE" "$REDIS_DIR/ready"
}

# ---------------------------------------------------------------------------
# clickhouse

CLICKHOUSE_PIDFILE=$CLICKHOUSE_DIR/clickhouse.pid
CLICKHOUSE_CONF=$CLICKHOUSE_DIR/config.xml

CLICKHOUSE_MARKER="clickhouse-server|--config-file=$CLICKHOUSE_CONF"
clickhouse_pid() { find_pid "$CLICKHOUSE_PIDFILE" "$CLICKHOUSE_MARKER"; }

clickhouse_launch() {
	foreign_port_check clickhouse "$CLICKHOUSE_PORT" "$CLICKHOUSE_HTTP_PORT"
	local d=$CLICKHOUSE_DIR
	mkdir -p "$d/data" "$d/tmp" "$d/user_files" "$d/format_schemas" "$d/logs"
	cat >"$CLICKHOUSE_CONF" <<EOF
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh on each start; edits are overwritten. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$d/logs/clickhouse-server.log</log>
        <errorlog>$d/logs/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>3</count>
    </logger>
    <listen_host>$HOST</listen_host>
    <tcp_port>$CLICKHOUSE_PORT</tcp_port>
    <http_port>$CLICKHOUSE_HTTP_PORT</http_port>
    <!-- no interserver_http_port, https_port, tcp_port_secure: those ports stay closed -->
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <max_concurrent_queries>100</max_concurrent_queries>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <mark_cache_size>268435456</mark_cache_size>
    <path>$d/data/</path>
    <tmp_path>$d/tmp/</tmp_path>
    <user_files_path>$d/user_files/</user_files_path>
    <format_schema_path>$d/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <mlock_executable>false</mlock_executable>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
    <max_table_size_to_drop>0</max_table_size_to_drop>
    <max_partition_size_to_drop>0</max_partition_size_to_drop>
</yandex>
EOF
	cat >"$d/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Generated by scripts/services.sh on each start; edits are overwritten. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
	log "clickhouse: starting on $HOST:$CLICKHOUSE_PORT (http $CLICKHOUSE_HTTP_PORT)"
	(cd "$d" && launch "$CLICKHOUSE_PIDFILE" "$d/logs/stdout.log" \
		clickhouse-server --config-file="$CLICKHOUSE_CONF")
}

clickhouse_ping() {
	[[ $(timeout 5 clickhouse-client --host "$HOST" --port "$CLICKHOUSE_PORT" -q 'SELECT 1' 2>/dev/null) == 1 ]]
}

clickhouse_wait() {
	local pid d=$CLICKHOUSE_DIR deadline=$((SECONDS + READY_TIMEOUT))
	pid=$(clickhouse_pid)
	until clickhouse_ping; do
		cmdline_has "$pid" "$CLICKHOUSE_MARKER" || fail clickhouse "$d/logs/stdout.log" "$d/logs/clickhouse-server.err.log"
		((SECONDS < deadline)) || fail clickhouse "$d/logs/stdout.log" "$d/logs/clickhouse-server.err.log"
		sleep 0.2
	done
	echo "$pid" >"$d/ready"
}

clickhouse_stop() {
	local pid
	pid=$(clickhouse_pid)
	if [[ -n $pid ]]; then
		stop_pid clickhouse "$pid" TERM "$CLICKHOUSE_MARKER"
		wait_port_closed clickhouse "$CLICKHOUSE_PORT"
		wait_port_closed clickhouse "$CLICKHOUSE_HTTP_PORT"
	fi
	rm -f "$CLICKHOUSE_PIDFILE" "$CLICKHOUSE_DIR/ready"
}

# ---------------------------------------------------------------------------
# dispatch per service

svc_fn() {
	case $1 in
	postgres) echo "pg_$2" ;;
	*) echo "$1_$2" ;;
	esac
}

svc_ready_file() {
	case $1 in
	postgres) echo "$(pg_home)/ready" ;;
	*) echo "$STATE_DIR/$1/ready" ;;
	esac
}

# svc_state SERVICE: "ready" (running, checked before, answers now),
# "running" (our process is alive but not known ready) or "stopped".
svc_state() {
	local s=$1 pid rf
	pid=$("$(svc_fn "$s" pid)")
	if [[ -z $pid ]]; then
		echo stopped
		return
	fi
	rf=$(svc_ready_file "$s")
	if [[ -s $rf && $(<"$rf") == "$pid" ]] && "$(svc_fn "$s" ping)"; then
		echo ready
	else
		echo running
	fi
}

check_services() {
	local s
	for s in "$@"; do
		case " ${ALL_SERVICES[*]} " in
		*" $s "*) ;;
		*) die "unknown service '$s' (expected: ${ALL_SERVICES[*]})" ;;
		esac
	done
}

with_lock() {
	mkdir -p "$STATE_DIR"
	exec 9>"$STATE_DIR/.lock"
	flock -w 900 9 || die "could not lock $STATE_DIR/.lock"
}

cmd_up() {
	local svcs=("$@") s state t0 pkgs
	((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")
	check_services "${svcs[@]}"
	t0=$(now_ms)
	with_lock

	pkgs=$(missing_packages "${svcs[@]}")
	# Fetch the Kafka jars while apt works, when Maven is already there.
	if [[ " ${svcs[*]} " == *" kafka "* && -n $pkgs ]] && kafka_jars_missing &&
		command -v mvn >/dev/null && command -v java >/dev/null; then
		kafka_fetch_jars &
		MVN_JOB=$!
	fi
	# shellcheck disable=SC2086 # word list
	[[ -z $pkgs ]] || apt_install $pkgs
	if [[ -n $MVN_JOB ]]; then
		local job=$MVN_JOB
		MVN_JOB=
		wait "$job" || die "kafka: fetching the jars failed"
	fi
	for s in "${svcs[@]}"; do
		[[ $s != kafka ]] || kafka_install
	done

	local to_wait=()
	for s in "${svcs[@]}"; do
		state=$(svc_state "$s")
		case $state in
		ready) log "$s: already running" ;;
		running) to_wait+=("$s") ;;
		stopped)
			"$(svc_fn "$s" launch)"
			to_wait+=("$s")
			;;
		esac
	done
	for s in "${to_wait[@]}"; do
		"$(svc_fn "$s" wait)"
		log "$s: ready"
	done
	t0=$(($(now_ms) - t0))
	log "up (${svcs[*]}) took $((t0 / 1000)).$(printf '%03d' $((t0 % 1000)))s"
	print_env
}

cmd_down() {
	local svcs=("$@") s
	((${#svcs[@]})) || svcs=("${ALL_SERVICES[@]}")
	check_services "${svcs[@]}"
	with_lock
	for s in "${svcs[@]}"; do
		"$(svc_fn "$s" stop)"
		log "$s: stopped"
	done
}

cmd_status() {
	local s
	for s in "${ALL_SERVICES[@]}"; do
		printf '%-11s %s\n' "$s" "$(svc_state "$s")" >&2
	done
}

cmd_reset() {
	cmd_down
	local alt=""
	log "deleting service data in $STATE_DIR (downloaded Kafka jars are kept)"
	[[ -L $PG_LINK ]] && alt=$(readlink -f "$PG_LINK")
	if [[ -n $alt ]]; then
		rm -rf "$alt"
		rmdir "$(dirname "$alt")" 2>/dev/null || true
	fi
	rm -rf "$PG_LINK" "$REDIS_DIR" "$CLICKHOUSE_DIR"
	if [[ -d $KAFKA_DIR ]]; then
		find "$KAFKA_DIR" -mindepth 1 -maxdepth 1 ! -name lib ! -name check -exec rm -rf {} +
	fi
}

usage() {
	sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

main() {
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	start)
		(($# == 1)) || die "usage: $0 start SERVICE"
		cmd_up "$1"
		;;
	stop)
		(($# == 1)) || die "usage: $0 stop SERVICE"
		cmd_down "$1"
		;;
	env) print_env ;;
	status) cmd_status ;;
	reset) cmd_reset ;;
	-h | --help | help) usage ;;
	*) usage ;;
	esac
}

main "$@"
