// Shared by the scenario scripts: the bills, the gRPC client, and one Settle as a cashier
// terminal sends it. A module's top level runs once per VU, so each VU has its own client.
import grpc from 'k6/net/grpc';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';

export const ADDR = __ENV.ONESTOP_ADDR || '127.0.0.1:9090';

// k6 resolves a relative open() path against the script's folder, not the shell's, so a
// default here would point somewhere surprising: ONESTOP_DATA is required, absolute.
const DATA = __ENV.ONESTOP_DATA;
if (!DATA) {
  throw new Error('set ONESTOP_DATA to the absolute path of a folder made by `onestop loadgen data`');
}

const client = new grpc.Client();
// The import path is the folder the protos' own imports ("onestop/v1/common.proto") are
// relative to; google/protobuf/timestamp.proto is built into k6.
client.load(['../../api'], 'onestop/v1/settlement.proto');

// bills loads bills.json once for all VUs, keeping those keep(bill) accepts.
export function bills(name, keep) {
  return new SharedArray(name, () => {
    const all = JSON.parse(open(`${DATA}/bills.json`));
    const kept = keep ? all.filter(keep) : all;
    if (kept.length === 0) {
      throw new Error(`no bills in ${DATA}/bills.json (make them with: onestop loadgen data --out ${DATA}) or none this script uses`);
    }
    return kept;
  });
}

// runID makes request ids unique across runs on one ledger: the same id with other content
// would be an IDEMPOTENCY_CONFLICT, not load.
export function runID() {
  return __ENV.ONESTOP_RUN || Date.now().toString(36);
}

let connected = false;

function connect(timeout) {
  if (!connected) {
    client.connect(ADDR, { plaintext: true, timeout: timeout });
    connected = true;
  }
}

// request is the bill as a SettleRequest: bills.json holds the proto's JSON names, so only
// kind and token come off and a request_id goes on (at most 64 printable characters).
function request(bill, requestID) {
  const req = Object.assign({}, bill);
  delete req.kind;
  delete req.token;
  req.request_id = requestID;
  // Bills go round under new request ids: the gateway would hold each repeat as a possible
  // duplicate bill (POSSIBLE_DUPLICATE_BILL); a load test confirms them, as a cashier would.
  req.confirm_duplicate = true;
  return req;
}

// settle sends the iteration's bill and checks it settled; with retry it sends the same
// request again, as a terminal does after a lost answer, and checks the answer is the
// stored one. opts: {run, timeout, connectTimeout, retry}.
export function settle(list, opts) {
  connect(opts.connectTimeout || '5s');
  const n = exec.scenario.iterationInTest;
  const bill = list[n % list.length];
  const req = request(bill, `${opts.run}-${exec.vu.idInTest}-${n}`);
  const params = {
    metadata: { authorization: 'Bearer ' + bill.token },
    tags: { kind: bill.kind, institution: bill.institution_id },
    timeout: opts.timeout || '10s',
  };
  const res = client.invoke('onestop.v1.SettlementService/Settle', req, params);
  const ok = check(res, {
    'settled': (r) => r && r.status === grpc.StatusOK && r.message.state === 'SETTLED',
  }, { kind: bill.kind });
  if (!ok && res) {
    console.warn(`${bill.kind} at ${bill.institution_id}: ${res.status} ${res.error ? JSON.stringify(res.error) : ''}`);
  }
  if (ok && opts.retry) {
    const again = client.invoke('onestop.v1.SettlementService/Settle', req, params);
    check(again, {
      'replayed': (r) => r && r.status === grpc.StatusOK && r.message.replayed === true,
    }, { kind: bill.kind });
  }
  return ok;
}
