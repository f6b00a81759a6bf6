#!/usr/bin/env bash
# Writes the seed corpus of every fuzz target to fuzz/seeds/<target>/ from real artefacts: packs,
# SCA policies and fixture trees of the repository, files written by the real binaries (a spool
# with findings, a FIM baseline, a collector config, an enrollment token, a CSR) and the kernel's
# own sock_diag replies. The seeds are committed; run this again only to refresh them.
#
#   bash fuzz/make-seeds.sh        # needs a debug build of both binaries, openssl and python3
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
out=$repo/fuzz/seeds
target="${CARGO_TARGET_DIR:-$repo/target}"
cargo build --quiet --locked --bins -p vigil-agent -p vigil-collector
agent=$target/debug/vigil-agent
collector=$target/debug/vigil-collector
tmp=$(mktemp -d)
cpid=
cleanup() {
    [ -z "$cpid" ] || kill "$cpid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
rm -rf "$out"
mkdir -p "$out"

# A collector, a token and an agent that spools findings while the collector is down.
port=$((30000 + $$ % 20000))
"$collector" init --data-dir "$tmp/c" --quic "127.0.0.1:$port" --http "127.0.0.1:$((port + 1))" >/dev/null
"$collector" agency add --data-dir "$tmp/c" --id p --name P >/dev/null
"$collector" token create --data-dir "$tmp/c" --agency p --uses 5 >"$tmp/token"
"$collector" run --data-dir "$tmp/c" >"$tmp/c.log" 2>&1 &
cpid=$!
sleep 2
printf '[fim]\npaths = []\n[netwatch]\nenabled = false\n[checks]\nenabled = false\n[testing]\nsynthetic_findings = 40\n' \
    >"$tmp/agent.toml"
"$agent" --config "$tmp/agent.toml" --state-dir "$tmp/a" enroll --token - --machine-id seeds <"$tmp/token" >/dev/null
kill "$cpid"
wait "$cpid" 2>/dev/null || true
cpid=
timeout -s INT 6 "$agent" --config "$tmp/agent.toml" --state-dir "$tmp/a" run >"$tmp/a.log" 2>&1 || true

# A FIM baseline of a small tree.
mkdir -p "$tmp/tree/etc/ssh"
printf 'root:x:0:0::/root:/bin/sh\n' >"$tmp/tree/etc/passwd"
printf 'PermitRootLogin no\n' >"$tmp/tree/etc/ssh/sshd_config"
ln -s passwd "$tmp/tree/etc/link"
"$agent" --config "$tmp/agent.toml" --state-dir "$tmp/f" fim baseline --root "$tmp/tree" --path /etc >/dev/null

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=seed \
    -keyout "$tmp/key.pem" -out "$tmp/csr.pem" 2>/dev/null

python3 - "$repo" "$out" "$tmp" <<'EOF'
import glob, json, os, re, socket, struct, sys

repo, out, tmp = sys.argv[1:]

def seed(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(p, mode="r"):
    with open(p, mode) as f:
        return f.read()

# Spool: the agent's real segments and state.
spool = os.path.join(tmp, "a", "spool")
segs = sorted(glob.glob(os.path.join(spool, "seg-*.log")))
state = read(os.path.join(spool, "state.json"), "rb") if os.path.exists(os.path.join(spool, "state.json")) else b""
bodies = []
for i, s in enumerate(segs):
    raw = read(s, "rb")
    seed("spool_segment", f"real-{i}", state + b"\0" + raw)
    seed("spool_segment", f"torn-{i}", b"\0" + raw[: len(raw) * 2 // 3])
    pos = 8
    while pos + 27 <= len(raw):
        n, seq, at = struct.unpack_from("<IQq", raw, pos + 6)
        body = raw[pos + 27 : pos + 27 + n]
        bodies.append({"seq": seq, "observed_at": at, "finding": json.loads(body)})
        pos += 27 + n
seed("spool_segment", "empty-state", state)

# Frames and sessions: Hello, Batch of real findings, Heartbeat; Welcome, Ack, IocUpdate.
def frame(obj):
    b = json.dumps(obj).encode()
    return struct.pack(">I", len(b)) + b

envs = bodies[:6]
hello = {"type": "hello", "proto_version": 1, "agent_id": "a", "agent_version": "0.1.0", "policy_hash": None, "ioc_version": 0}
batch = {"type": "batch", "first_seq": envs[0]["seq"] if envs else 1, "findings": envs}
beat = {"type": "heartbeat", "now": 1750000000000, "spool_depth": 3, "stats": {}}
ioc = {"type": "ioc_update", "version": 3, "from_version": 0,
       "add": [{"kind": "ip", "value": "192.0.2.7", "source": "feed", "expires_at": 0},
               {"kind": "cidr", "value": "198.51.100.0/24", "source": "feed", "expires_at": 1900000000},
               {"kind": "domain", "value": "evil.example", "source": "feed", "expires_at": 0},
               {"kind": "sha256", "value": "ab" * 32, "source": "feed", "expires_at": 0},
               {"kind": "md5", "value": "cd" * 16, "source": "feed", "expires_at": 0}],
       "remove": ["ip:203.0.113.9"]}
welcome = {"type": "welcome", "proto_version": 1, "policy": None, "ioc_version": 0, "acked_seq": 0}
ack = {"type": "ack", "up_to_seq": 5}
agent_stream = frame(hello) + frame(batch) + frame(beat)
collector_stream = frame(welcome) + frame(ack) + frame(ioc)
seed("frame_decoder", "agent-stream", b"\x07" + agent_stream)
seed("frame_decoder", "collector-stream", b"\x00" + collector_stream)
seed("session", "established", b"\x01" + agent_stream)
seed("session", "hello", b"\x00" + frame(hello))
seed("session", "collector", b"\x01" + collector_stream)
seed("ioc_update", "full", json.dumps(ioc))
seed("ioc_update", "delta", json.dumps(dict(ioc, from_version=3, version=4)))

# Enrollment: the real token and a request with a real CSR.
token = read(os.path.join(tmp, "token")).strip()
seed("enroll_token", "real", token)
seed("enroll_token", "body", token.split(".", 1)[1])
csr = read(os.path.join(tmp, "csr.pem"))
req = {"proto_version": 1, "secret": "A" * 43, "csr_pem": csr,
       "host": {"machine_id": "m1", "hostname": "pc-01", "os": "Debian 12"}, "agent_version": "0.1.0"}
seed("enroll_request", "frame", frame(req))
seed("enroll_request", "pem", csr)

# FIM baselines: the v1 fixture and one the agent just wrote.
seed("fim_baseline", "v1-fixture", read(os.path.join(repo, "agent/tests/fixtures/fim-baseline-v1.bin"), "rb"))
for i, p in enumerate(glob.glob(os.path.join(tmp, "f", "**", "*.bin"), recursive=True)):
    seed("fim_baseline", f"written-{i}", read(p, "rb"))

# Configurations.
seed("agent_config", "packaged", read(os.path.join(repo, "packaging/agent.toml")))
seed("agent_config", "testing", read(os.path.join(tmp, "agent.toml")))
seed("agent_config", "full", """[uplink]
collector = "vigil.example.gov.vn:4433"
heartbeat_interval = "30s"
[checks]
packs = ["/etc/vigil/packs"]
interval = "1h"
level = 3
[fim]
paths = ["/etc", "/usr/bin"]
exclude = ["*.swp"]
scan_interval = "12h"
hash = "sha256"
[netwatch]
interval = "5s"
[spool]
max_size = "256MiB"
segment_size = "8MiB"
""")
seed("collector_config", "init", read(os.path.join(tmp, "c", "collector.toml")))
seed("collector_config", "postgres", """[store]
postgres = "host=127.0.0.1 user=vigil dbname=vigil"
[http]
listen = "0.0.0.0:8443"
[quic]
listen = "0.0.0.0:4433"
advertise = ["vigil.example.gov.vn:4433"]
""")

# IOC files and asset CSV.
seed("ioc_file", "plain", "# feed\n192.0.2.7\n2001:db8::1\n198.51.100.0/24\nevil[.]example\n" + "ab" * 32 + "\n" + "cd" * 16 + "\n")
seed("ioc_file", "csv", "type,value,source,expires\nip,192.0.2.7,feed-a,2030-01-01\ndomain,Evil.Example.,feed-b,\nsha256," + "AB" * 32 + ",,1900000000\n")
seed("asset_csv", "assets", "agency,hostname,role,level\ntinh/so-a,pc-01,workstation,1\ntinh/so-a,srv-01,server,3\ntinh/xa-b,Máy-02,máy trạm,2\n")
seed("fed_summary", "empty", '{"v":1,"downstream_id":"d","computed_at":0,"rule_pack_version":"","scoring_version":"1","agencies":[]}')
seed("asset_csv", "reordered", "\ufeffhostname;role;agency;level;note\nsrv;server;tinh;5;x\n")

# Rule packs: the built-in pack cut into one pack per rule (a sample of every check kind).
pack = read(os.path.join(repo, "rules/packs/linux-baseline.yaml"))
head, _, rules = pack.partition("\nrules:\n")
head = "\n".join(l for l in head.splitlines() if not l.startswith("#")) + "\nrules:\n"
chunks = re.split(r"\n(?=  - id: )", rules)
kinds = {}
for c in chunks:
    for k in re.findall(r"kind: (\w+)", c):
        kinds.setdefault(k, c)
for k, c in kinds.items():
    seed("rule_pack", f"kind-{k}", head + c.rstrip() + "\n")
seed("rule_pack", "command", head + """  - id: cmd
    title: {vi: a, en: a}
    rationale: {vi: a, en: a}
    remediation: {vi: a, en: a}
    severity: high
    group: hardening
    checks:
      - {kind: command, run: [/usr/sbin/sshd, -T], line: '^maxauthtries\\s+(\\d+)', value: "<= 4"}
""")

# SCA policies: the fixtures, whole and cut into one check each.
for name in ("constructs-4x.yml", "constructs-5x.yml"):
    text = read(os.path.join(repo, "rules/testdata/sca", name))
    seed("sca_policy", name, text)
    top, _, checks = text.partition("\nchecks:\n")
    for i, c in enumerate(re.split(r"\n(?=  - id: )", checks)[:12]):
        seed("sca_policy", f"{name}-{i}", top + "\nchecks:\n" + c.rstrip() + "\n")

# Host files of an offline image: the baseline fixture tree, in host_files.rs's order.
paths = ["/etc/passwd", "/etc/shadow", "/etc/group", "/etc/login.defs", "/etc/ssh/sshd_config",
         "/etc/os-release", "/proc/mounts", "/etc/fstab", "/var/lib/dpkg/status",
         "/etc/pam.d/common-auth", "/etc/pam.d/common-password", "/etc/sudoers",
         "/etc/sysctl.conf", "/proc/sys/net/ipv4/ip_forward", "/etc/audit/rules.d/audit.rules",
         "/etc/systemd/timesyncd.conf", "/proc/net/tcp", "/etc/default/grub",
         "/etc/security/pwquality.conf", "/etc/systemd/system/multi-user.target.wants/ssh.service"]
base = os.path.join(repo, "rules/testdata/linux-baseline/base")
parts = []
for p in paths:
    f = base + p
    parts.append(read(f, "rb")[:4096] if os.path.isfile(f) else b"")
seed("host_files", "fixture-tree", b"\0".join(parts))

# /proc/net tables and dpkg status from this machine.
for n in ("tcp", "tcp6", "udp"):
    p = "/proc/net/" + n
    if os.path.exists(p):
        seed("proc_net", n, read(p, "rb")[:6000])
if os.path.exists("/var/lib/dpkg/status"):
    seed("proc_net", "dpkg-status", read("/var/lib/dpkg/status", "rb")[:6000])

# sock_diag: the kernel's own replies to the agent's requests (nlmsghdr + inet_diag_req_v2).
for idx, (fam, proto) in enumerate([(2, 6), (10, 6), (2, 17), (10, 17)]):
    seq = 5
    try:
        s = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 4)
        body = struct.pack("=BBBBI", fam, proto, 0, 0, 0xFFFFFFFF) + bytes(48)
        s.send(struct.pack("=IHHII", 16 + len(body), 20, 0x301, seq, 0) + body)
        reply = s.recv(65536)
        seed("netlink", f"dump-{idx}", bytes([(seq << 2) | idx]) + reply[:8000])
    except OSError:
        pass
seed("netlink", "done", bytes([(5 << 2)]) + struct.pack("=IHHII", 20, 3, 2, 5, 0) + bytes(4))

# Policy bundles in the canonical form of proto/src/policy/canon.rs, and chunk lines.
import base64, hashlib, json
def pstr(t):
    b = t.encode()
    return struct.pack(">I", len(b)) + b
def bundle(version, agency, packs, ints, paths):
    out = b"VIGILPOL\x00\x01" + struct.pack(">Q", version) + pstr(agency) + struct.pack(">q", 1760000000)
    out += struct.pack(">I", len(packs)) + b"".join(pstr(n) + pstr(v) + pstr(s) for n, v, s in packs)
    opt = lambda v, enc: b"\x00" if v is None else b"\x01" + enc(v)
    lst = lambda l: struct.pack(">I", len(l)) + b"".join(pstr(x) for x in l)
    u64 = lambda v: struct.pack(">Q", v)
    out += opt(ints[0], u64) + opt(paths, lst) + opt(["*.swp"], lst)
    out += b"".join(opt(v, u64) for v in ints[1:5]) + opt(3, lambda v: bytes([v]))
    return out
pack = read(os.path.join(repo, "rules/packs/linux-baseline.yaml"), "r")[:3000]
full = bundle(7, "tinh/so-a", [("linux-baseline", "1.0.0", pack)], [600, 5, 3600, 100, 1 << 26], ["/etc"])
seed("policy_bundle", "full", full)
seed("policy_bundle", "empty", bundle(1, "t", [], [None] * 5, None))
blob = bytes(64) + full
digest = "sha256:" + hashlib.sha256(blob).hexdigest()
step = 1024
parts = [blob[i:i + step] for i in range(0, len(blob), step)]
lines = [json.dumps({"version": 7, "digest": digest, "total_len": len(blob), "index": i,
                     "count": len(parts), "data": base64.b64encode(c).decode()}) for i, c in enumerate(parts)]
seed("policy_bundle", "chunks", "\n".join(lines).encode())
EOF
find "$out" -type f | wc -l | xargs echo "seeds written:"
du -sh "$out"
