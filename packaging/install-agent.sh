#!/bin/sh
# Installs, enrolls and starts the Vigil agent on one host (or removes it), printing each step.
# Safe to run again: an installed package of the same version, an existing configuration and an
# existing enrollment are kept. See packaging/README.md.
set -eu

BIN=/usr/bin/vigil-agent
LOCAL_BIN=/usr/local/bin/vigil-agent
CONF_DIR=/etc/vigil
CONF=$CONF_DIR/agent.toml
STATE_DIR=/var/lib/vigil
UNIT=vigil-agent.service
LOCAL_UNIT=/etc/systemd/system/$UNIT
LOCAL_SYSCTL=/etc/sysctl.d/60-vigil-inotify.conf

usage() {
    cat <<'EOF'
Usage:
  printf '%s\n' 'TOKEN' | install-agent.sh [--collector HOST:PORT]
                             [--deb FILE | --rpm FILE | --binary FILE] [--force]
  install-agent.sh --token-file FILE [--collector HOST:PORT]
                   [--deb FILE | --rpm FILE | --binary FILE] [--force]
  install-agent.sh --uninstall [--keep-state DIR]

Installs the Vigil agent, writes /etc/vigil/agent.toml (root, 0640) if it is missing, enrolls the
host with the collector and enables and starts the vigil-agent service. Run as root.

The enrollment token (from `vigil-collector token create` or the console) is read from standard
input: pipe it in as above (printf is built into the shell, so the token is in no process's
command line), or paste it when asked. Never put it on the command line: every local user can
read command lines in /proc/*/cmdline, and sudo logs them.

  --token-file FILE    Read the token from FILE, which only root may read (chmod 600).
  --token -            Read the token from standard input (the default).
  --token TOKEN        Still accepted but discouraged: the token shows in the process list and
                       in sudo's log. VIGIL_TOKEN in the environment also works.
  --collector H:P      Collector address to use instead of the one in the token.
  --deb FILE           Install this vigil-agent .deb with dpkg (upgrades an older version).
  --rpm FILE           Install this vigil-agent .rpm with dnf, yum or rpm (Rocky, AlmaLinux,
                       RHEL, CentOS; upgrades an older version).
  --binary FILE        Install this static vigil-agent binary to /usr/local/bin (hosts without
                       dpkg or rpm), with the systemd unit and sysctl file found next to this
                       script.
                       Without --deb/--rpm/--binary: keep an installed agent, else use a
                       vigil-agent_*.deb (when dpkg exists), a vigil-agent-*.rpm (when rpm
                       exists) or a vigil-agent binary next to this script.
  --force              Enroll again even if the host is enrolled already (new identity; the
                       collector replaces this host's old one).
  --uninstall          Stop and remove the agent, its configuration and its state.
  --keep-state DIR     With --uninstall: first save /var/lib/vigil and /etc/vigil to a tarball
                       in DIR.
  -h, --help           This help.

Exit codes:
  0  done (including "nothing to do")
  2  usage error, not root, or a missing file or tool
  3  installing or removing the software failed
  4  enrollment failed (bad or expired token, collector unreachable)
  5  the service did not start (see: journalctl -u vigil-agent)
EOF
}

say() {
    echo "==> $*"
}

run() {
    echo "    \$ $*"
    "$@"
}

die() {
    code=$1
    shift
    echo "install-agent: error: $*" >&2
    exit "$code"
}

systemd_running() {
    [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1
}

here=$(cd "$(dirname "$0")" && pwd)
token=${VIGIL_TOKEN:-}
token_on_argv=no
token_file=
collector=
deb=
rpm_file=
binary=
force=no
uninstall=no
keep_state=

while [ $# -gt 0 ]; do
    case "$1" in
        --token|--token-file|--collector|--deb|--rpm|--binary|--keep-state)
            [ $# -ge 2 ] || die 2 "$1 needs a value (see --help)"
            case "$1" in
                --token) token=$2; [ "$2" = - ] || token_on_argv=yes ;;
                --token-file) token_file=$2 ;;
                --collector) collector=$2 ;;
                --deb) deb=$2 ;;
                --rpm) rpm_file=$2 ;;
                --binary) binary=$2 ;;
                --keep-state) keep_state=$2 ;;
            esac
            shift 2
            ;;
        --force) force=yes; shift ;;
        --uninstall) uninstall=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die 2 "unknown argument '$1' (see --help)" ;;
    esac
done

[ "$(id -u)" = 0 ] || die 2 "run as root (e.g. sudo $0 ...)"
case "${deb:+d}${rpm_file:+r}${binary:+b}" in
    ??*) die 2 "--deb, --rpm and --binary exclude each other" ;;
esac
if [ -n "$keep_state" ] && [ "$uninstall" = no ]; then
    die 2 "--keep-state only goes with --uninstall"
fi

have_dpkg() {
    command -v dpkg >/dev/null 2>&1
}

deb_installed_version() {
    if have_dpkg; then
        dpkg-query -W -f '${db:Status-Abbrev} ${Version}\n' vigil-agent 2>/dev/null |
            sed -n 's/^ii *//p'
    fi
}

# Any state dpkg still knows the package in (installed, config files left, half-installed).
deb_known_status() {
    if have_dpkg; then
        dpkg-query -W -f '${db:Status-Abbrev}\n' vigil-agent 2>/dev/null | grep -v '^u' || true
    fi
}

have_rpm() {
    command -v rpm >/dev/null 2>&1
}

# VERSION-RELEASE of the installed vigil-agent rpm, or nothing.
rpm_installed_version() {
    if have_rpm; then
        rpm -q --qf '%{VERSION}-%{RELEASE}\n' vigil-agent 2>/dev/null | grep -v 'not installed' || true
    fi
}

agent_bin() {
    if [ -x "$BIN" ]; then
        echo "$BIN"
    elif [ -x "$LOCAL_BIN" ]; then
        echo "$LOCAL_BIN"
    fi
}

# ---------------------------------------------------------------------------------------------
# Uninstall.
# ---------------------------------------------------------------------------------------------
if [ "$uninstall" = yes ]; then
    if [ -n "$keep_state" ]; then
        if [ -d "$STATE_DIR" ] || [ -d "$CONF_DIR" ]; then
            mkdir -p "$keep_state" || die 2 "cannot create $keep_state"
            backup=$keep_state/vigil-agent-state-$(hostname 2>/dev/null || echo host)-$(date +%Y%m%dT%H%M%S).tar.gz
            say "Saving the agent state to $backup"
            set --
            [ -d "$STATE_DIR" ] && set -- "$@" "${STATE_DIR#/}"
            [ -d "$CONF_DIR" ] && set -- "$@" "${CONF_DIR#/}"
            (umask 077 && run tar -czf "$backup" -C / "$@") || die 3 "could not write $backup"
        else
            say "No agent state to save"
        fi
    fi
    if systemd_running; then
        say "Stopping and disabling $UNIT"
        run systemctl disable --now "$UNIT" 2>/dev/null || true
    fi
    if [ -n "$(deb_known_status)" ]; then
        say "Purging the vigil-agent package (configuration and state included)"
        run dpkg --purge vigil-agent || die 3 "dpkg --purge vigil-agent failed"
    fi
    if [ -n "$(rpm_installed_version)" ]; then
        say "Removing the vigil-agent package"
        run rpm -e vigil-agent || die 3 "rpm -e vigil-agent failed"
    fi
    removed=no
    for f in "$LOCAL_BIN" "$LOCAL_UNIT" "$LOCAL_SYSCTL" \
        "/etc/systemd/system/multi-user.target.wants/$UNIT"; do
        if [ -e "$f" ] || [ -L "$f" ]; then
            say "Removing $f"
            run rm -f "$f"
            removed=yes
        fi
    done
    for d in "$STATE_DIR" "$CONF_DIR"; do
        if [ -e "$d" ]; then
            say "Removing $d"
            run rm -rf "$d"
            removed=yes
        fi
    done
    if systemd_running && [ "$removed" = yes ]; then
        run systemctl daemon-reload || true
    fi
    say "The Vigil agent is removed${keep_state:+; state saved in $keep_state}"
    exit 0
fi

# ---------------------------------------------------------------------------------------------
# Install.
# ---------------------------------------------------------------------------------------------
if [ -z "$deb$rpm_file$binary" ] && [ -z "$(agent_bin)" ]; then
    found_deb=$(find "$here" -maxdepth 1 -name 'vigil-agent_*.deb' 2>/dev/null | sort | tail -n 1)
    found_rpm=$(find "$here" -maxdepth 1 -name 'vigil-agent-*.rpm' 2>/dev/null | sort | tail -n 1)
    if have_dpkg && [ -n "$found_deb" ]; then
        deb=$found_deb
    elif have_rpm && ! have_dpkg && [ -n "$found_rpm" ]; then
        rpm_file=$found_rpm
    elif [ -x "$here/vigil-agent" ]; then
        binary=$here/vigil-agent
    else
        die 2 "vigil-agent is not installed; give --deb FILE, --rpm FILE or --binary FILE"
    fi
fi

if [ -n "$deb" ]; then
    [ -f "$deb" ] || die 2 "--deb $deb: no such file"
    have_dpkg || die 2 "dpkg is not available on this host; use --binary with the static build"
    want=$(dpkg-deb -f "$deb" Version) || die 2 "--deb $deb: not a Debian package"
    pkg=$(dpkg-deb -f "$deb" Package)
    [ "$pkg" = vigil-agent ] || die 2 "--deb $deb: this is $pkg, not vigil-agent"
    have=$(deb_installed_version)
    if [ "$have" = "$want" ]; then
        say "vigil-agent $want is installed already"
    else
        if [ -n "$have" ]; then
            say "Upgrading vigil-agent $have to $want (identity, spool and baseline are kept)"
        else
            say "Installing vigil-agent $want"
        fi
        run dpkg --force-confdef --force-confold -i "$deb" || die 3 "dpkg -i $deb failed"
    fi
    bin=$BIN
elif [ -n "$rpm_file" ]; then
    [ -f "$rpm_file" ] || die 2 "--rpm $rpm_file: no such file"
    have_rpm || die 2 "rpm is not available on this host; use --deb or --binary"
    want=$(rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE}' "$rpm_file" 2>/dev/null) ||
        die 2 "--rpm $rpm_file: not an rpm package"
    [ "${want%% *}" = vigil-agent ] || die 2 "--rpm $rpm_file: this is ${want%% *}, not vigil-agent"
    want=${want#* }
    have=$(rpm_installed_version)
    if [ "$have" = "$want" ]; then
        say "vigil-agent $want is installed already"
    else
        if [ -n "$have" ]; then
            say "Upgrading vigil-agent $have to $want (identity, spool and baseline are kept)"
        else
            say "Installing vigil-agent $want"
        fi
        # dnf and yum resolve the C library dependency from the host's repositories; bare rpm
        # only checks it.
        if command -v dnf >/dev/null 2>&1; then
            run dnf install -y "$rpm_file" || die 3 "dnf install $rpm_file failed"
        elif command -v yum >/dev/null 2>&1; then
            run yum install -y "$rpm_file" || die 3 "yum install $rpm_file failed"
        else
            run rpm -U "$rpm_file" || die 3 "rpm -U $rpm_file failed"
        fi
    fi
    bin=$BIN
elif [ -n "$binary" ]; then
    [ -f "$binary" ] || die 2 "--binary $binary: no such file"
    if [ -n "$(deb_installed_version)$(rpm_installed_version)" ]; then
        die 2 "the vigil-agent package is installed; upgrade it with --deb or --rpm, not --binary"
    fi
    unit_src=$here/systemd/$UNIT
    sysctl_src=$here/sysctl/60-vigil-inotify.conf
    if cmp -s "$binary" "$LOCAL_BIN"; then
        say "$LOCAL_BIN is up to date"
    else
        say "Installing $binary as $LOCAL_BIN"
        run install -D -m 0755 -o root -g root "$binary" "$LOCAL_BIN" || die 3 "copy failed"
    fi
    if [ -f "$sysctl_src" ]; then
        if ! cmp -s "$sysctl_src" "$LOCAL_SYSCTL"; then
            say "Installing inotify limits as $LOCAL_SYSCTL"
            run install -D -m 0644 "$sysctl_src" "$LOCAL_SYSCTL" || die 3 "copy failed"
            if command -v sysctl >/dev/null 2>&1; then
                run sysctl -q -p "$LOCAL_SYSCTL" || echo "    (not applied now; applies at boot)"
            fi
        fi
    else
        echo "    warning: $sysctl_src not found; inotify limits left as they are" >&2
    fi
    if command -v systemctl >/dev/null 2>&1; then
        [ -f "$unit_src" ] || die 2 "$unit_src not found (keep this script next to systemd/)"
        sed "s|/usr/bin/vigil-agent|$LOCAL_BIN|g" "$unit_src" >"$LOCAL_UNIT.tmp"
        if cmp -s "$LOCAL_UNIT.tmp" "$LOCAL_UNIT"; then
            rm -f "$LOCAL_UNIT.tmp"
        else
            say "Installing the systemd unit $LOCAL_UNIT"
            chmod 0644 "$LOCAL_UNIT.tmp"
            run mv "$LOCAL_UNIT.tmp" "$LOCAL_UNIT"
        fi
    fi
    bin=$LOCAL_BIN
else
    bin=$(agent_bin)
    say "Using the installed $bin"
fi
say "$("$bin" --version)"

# Configuration: written only when missing, so an administrator's edits survive.
if [ -d "$CONF_DIR" ]; then
    chmod 0750 "$CONF_DIR"
else
    run install -d -m 0750 -o root -g root "$CONF_DIR"
fi
if [ -f "$CONF" ]; then
    say "Keeping the existing $CONF"
else
    say "Writing $CONF"
    umask 027
    if [ -f "$here/agent.toml" ]; then
        cp "$here/agent.toml" "$CONF.tmp"
    else
        printf '%s\n' '# Vigil agent configuration; every key is optional (packaging/README.md).' \
            '[uplink]' '#collector = "vigil.example.gov.vn:4433"' >"$CONF.tmp"
    fi
    if [ -n "$collector" ]; then
        sed "s|^#collector = .*|collector = \"$collector\"|" "$CONF.tmp" >"$CONF.tmp2"
        mv "$CONF.tmp2" "$CONF.tmp"
    fi
    mv "$CONF.tmp" "$CONF"
    umask 022
fi
chown root:root "$CONF"
chmod 0640 "$CONF"
run "$bin" --config "$CONF" validate || die 2 "$CONF is not valid (see above)"

if [ ! -d "$STATE_DIR" ]; then
    run install -d -m 0700 -o root -g root "$STATE_DIR"
fi
chmod 0700 "$STATE_DIR"

# Enrollment.
enrolled_now=no
if [ -f "$STATE_DIR/identity.json" ] && [ "$force" = no ]; then
    say "Already enrolled; not enrolling again (use --force to replace this host's identity)"
    "$bin" --config "$CONF" --state-dir "$STATE_DIR" status | sed 's/^/    /' || true
else
    # The token never goes on a command line: the agent reads the file itself, or standard input
    # fed by printf, which is built into the shell (no process of its own).
    if [ -n "$token_file" ]; then
        [ -f "$token_file" ] || die 2 "--token-file $token_file: no such file"
    else
        if [ "$token_on_argv" = yes ]; then
            echo "    warning: --token TOKEN shows the token to every local user (process list) and in sudo's log; pipe it to this script or use --token-file" >&2
        fi
        if [ -z "$token" ] || [ "$token" = - ]; then
            token=
            if [ -t 0 ]; then
                printf 'Paste the enrollment token, then press Enter: ' >&2
                stty -echo 2>/dev/null || true
                IFS= read -r token || true
                stty echo 2>/dev/null || true
                echo >&2
            else
                IFS= read -r token || true
            fi
        fi
        [ -n "$token" ] || die 2 "no enrollment token: pipe it to this script or give --token-file FILE (see --help)"
    fi
    if [ "$force" = yes ] && systemd_running; then
        run systemctl stop "$UNIT" || true
    fi
    say "Enrolling with the collector${collector:+ at $collector}"
    set -- "$bin" --config "$CONF" --state-dir "$STATE_DIR" enroll
    if [ -n "$token_file" ]; then
        set -- "$@" --token-file "$token_file"
    else
        set -- "$@" --token -
    fi
    [ -z "$collector" ] || set -- "$@" --collector "$collector"
    if [ -n "$token_file" ]; then
        echo "    \$ $*"
        "$@" </dev/null || die 4 "enrollment failed (see the error above)"
    else
        echo "    \$ $* (token on standard input)"
        printf '%s\n' "$token" | "$@" || die 4 "enrollment failed (see the error above)"
    fi
    [ -f "$STATE_DIR/identity.json" ] || die 4 "enrollment wrote no $STATE_DIR/identity.json"
    enrolled_now=yes
fi

# Service.
if systemd_running; then
    say "Enabling and starting $UNIT"
    run systemctl daemon-reload
    run systemctl enable "$UNIT"
    if [ "$enrolled_now" = yes ] && systemctl is-active --quiet "$UNIT"; then
        run systemctl restart "$UNIT" || true
    else
        run systemctl start "$UNIT" || true
    fi
    sleep 2
    if ! systemctl is-active --quiet "$UNIT"; then
        die 5 "$UNIT is not running; see: journalctl -u vigil-agent -n 50"
    fi
    say "The Vigil agent is running; check it with: vigil-agent status"
else
    say "systemd is not running here, so the service was not started. Start the agent with:"
    echo "    $bin --config $CONF --state-dir $STATE_DIR run"
    echo "    (from your init system or a supervisor; it runs in the foreground)"
fi
exit 0
