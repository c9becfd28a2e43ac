// The cashier load while an agency is down (start the agency simulator with --outage, see
// README.md). Settlement must not wait on agencies: alerts and notices go through the
// outbox, and a person the snapshot holds is never asked of the bureau. So every settle
// still succeeds, as fast as without the outage; the outbox's backlog is the place the
// outage shows, on the gateway's /metrics.
//
//   ONESTOP_DATA=$PWD/loadgen-data k6 run loadtest/k6/agency-outage.js
import { bills, runID, settle } from './lib.js';

const RATE = Number(__ENV.ONESTOP_RATE || 200);
const list = bills('agency-outage');

export const options = {
  scenarios: {
    cashiers_during_outage: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.ONESTOP_DURATION || '3m',
      preAllocatedVUs: Math.max(10, Math.ceil(RATE / 2)),
      maxVUs: Math.max(50, RATE * 2),
    },
  },
  thresholds: {
    grpc_req_duration: ['p(99)<500'],
    checks: ['rate>0.999'],
    dropped_iterations: ['count<1'],
  },
};

export function setup() {
  return { run: runID() };
}

export default function (data) {
  settle(list, { run: data.run });
}
