#!/usr/bin/env bash
# The seed's incident, end to end, on this machine:
#   moto (AWS) with the seed's world → fake Kubernetes API + kubelet simulator → the real Lambda binary
#   under the Lambda Runtime API emulator (cargo lambda watch) → cargo lambda invoke with the launch event.
# Run through `make demo` (which installs .venv first).
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_PORT=${MOTO_PORT:-5000}
KUBE_PORT=${KUBE_PORT:-6443}
LAMBDA_PORT=${LAMBDA_PORT:-9000}
STATE=.sandbox
KUBE_ARGS="--endpoint https://127.0.0.1:${KUBE_PORT} --ca-file ${STATE}/kube-ca.pem"
mkdir -p "$STATE"
rm -f "$STATE"/*.json "$STATE"/*.log "$STATE"/*.pem "$STATE"/function.env

export PATH="$PWD/.venv/bin:$PATH"
export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2 AWS_DEFAULT_REGION=us-west-2
unset AWS_PROFILE AWS_SESSION_TOKEN

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
wait_for() { # name, command
  local name=$1; shift
  for _ in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "timed out waiting for $name" >&2
  return 1
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pretty() { python3 -m json.tool; }

for port in "$MOTO_PORT" "$KUBE_PORT" "$LAMBDA_PORT"; do
  if port_open "$port"; then
    echo "port $port is in use; stop what listens there or set MOTO_PORT / KUBE_PORT / LAMBDA_PORT" >&2
    exit 1
  fi
done

step "Building the Lambda and the sandbox (dev profile, shared with make test)"
cargo build --locked --workspace --bins 2>&1 | tail -n 2
SANDBOX=target/debug/sandbox

step "Starting moto (the AWS APIs) on 127.0.0.1:${MOTO_PORT}"
setsid python3 sandbox/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 &
pids+=($!)
wait_for moto port_open "$MOTO_PORT"

step "Sam's new subnet and nodegroup (the seed's world: VPC 10.42.0.0/16, new subnet 10.42.192.0/19)"
"$SANDBOX" seed --quiet --state "$STATE/world.json"

step "Starting the Kubernetes API (fake, HTTPS) with its kubelet simulator on 127.0.0.1:${KUBE_PORT}"
setsid "$SANDBOX" fake-kube --state "$STATE/world.json" --port "$KUBE_PORT" --ca-file "$STATE/kube-ca.pem" >"$STATE/fake-kube.log" 2>&1 &
pids+=($!)
wait_for fake-kube grep -q "listening" "$STATE/fake-kube.log"

step "Step 1: the new node is missing"
"$SANDBOX" nodes --state "$STATE/world.json" $KUBE_ARGS

step "Steps 2-5: what Sam finds by hand (nodegroup ACTIVE, launch Successful, instance running, route table)"
"$SANDBOX" story --state "$STATE/world.json"

TOPIC_ARN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["topic_arn"])' "$STATE/world.json")
STATE_TABLE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state_table"])' "$STATE/world.json")
cat >"$STATE/function.env" <<EOF
MODE=remediate
RECYCLE=instance
REGISTRATION_CHECK=poll
GRACE_PERIOD_SECONDS=60
POLL_INTERVAL_SECONDS=5
SNS_TOPIC_ARN=${TOPIC_ARN}
STATE_TABLE=${STATE_TABLE}
KUBE_API_ENDPOINT_OVERRIDE=https://127.0.0.1:${KUBE_PORT}
KUBE_CA_FILE=${PWD}/${STATE}/kube-ca.pem
AWS_ENDPOINT_URL=${AWS_ENDPOINT_URL}
AWS_ACCESS_KEY_ID=testing
AWS_SECRET_ACCESS_KEY=testing
AWS_REGION=us-west-2
RUST_LOG=info
EOF

step "Starting the real Lambda binary under the Lambda Runtime API (cargo lambda watch, MODE=remediate)"
sed 's/^/  /' "$STATE/function.env" | grep -v SECRET
setsid cargo lambda watch --bin eks-node-join-remediator --ignore-changes -A 127.0.0.1 -P "$LAMBDA_PORT" \
  --env-file "$STATE/function.env" >"$STATE/lambda.log" 2>&1 &
pids+=($!)
wait_for "cargo lambda watch" port_open "$LAMBDA_PORT"

step "EventBridge delivers 'EC2 Instance Launch Successful' (events/launch-successful.json with this world's ids)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["detail"]; print(json.dumps({k: d[k] for k in ("EC2InstanceId","AutoScalingGroupName","Details")}, indent=2))' "$STATE/launch-event.json"
step "cargo lambda invoke eks-node-join-remediator --data-file $STATE/launch-event.json"
cargo lambda invoke eks-node-join-remediator -A 127.0.0.1 -P "$LAMBDA_PORT" --data-file "$STATE/launch-event.json" \
  -o json >"$STATE/outcome.json"
python3 - "$STATE/outcome.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"outcome: {r['outcome']}   registration: {r.get('registration', {}).get('state')}")
for f in r.get("findings", []):
    print(f"[{f['severity']}] {f['code']}: {f['summary']}")
    for e in f["evidence"]:
        print(f"    {e}")
for a in r.get("actions", []):
    print(f"action {a['action']['kind']}: {a['status']} - {a['detail']}")
if r["outcome"] != "remediated":
    sys.exit(f"expected outcome remediated, got {r['outcome']}")
EOF

step "Step 6.2: the route table after the fix"
"$SANDBOX" routes --state "$STATE/world.json"

step "The report, as delivered by SNS to a subscribed queue"
"$SANDBOX" sns --state "$STATE/world.json" --wait-seconds 10

step "Step 6.3: the stuck instance was replaced; waiting for the replacement node (step 7)"
"$SANDBOX" wait-ready --state "$STATE/world.json" --timeout 90 $KUBE_ARGS

step "The replacement's own launch event: the Lambda confirms the node joined"
"$SANDBOX" replacement-event --state "$STATE/world.json" --out "$STATE/replacement-event.json"
cargo lambda invoke eks-node-join-remediator -A 127.0.0.1 -P "$LAMBDA_PORT" --data-file "$STATE/replacement-event.json" \
  -o json >"$STATE/follow-up.json"
python3 - "$STATE/follow-up.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"outcome: {r['outcome']}   node: {r.get('node_name')}   ready: {r.get('ready')}   resolves the remediation: {r.get('resolves_remediation', False)}")
if r["outcome"] != "registered":
    sys.exit(f"expected outcome registered, got {r['outcome']}")
EOF
"$SANDBOX" sns --state "$STATE/world.json" --wait-seconds 5

step "Step 7: kubectl get nodes --selector=eks.amazonaws.com/nodegroup=new_nodegroup_2"
"$SANDBOX" nodes --state "$STATE/world.json" $KUBE_ARGS
printf '\nThe Lambda log (JSON lines, EMF metrics among them) is in %s/lambda.log\n' "$STATE"
