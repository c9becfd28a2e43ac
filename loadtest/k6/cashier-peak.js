// The city's cashiers at their busiest: the generated mix (70% outpatient, 10% chronic, 20%
// inpatient) at a constant arrival rate, so a slow gateway shows as latency and dropped
// iterations instead of quietly lowering the load. 1% of bills are sent twice with the same
// request_id, as a terminal does after a lost answer; the second must come back replayed.
//
//   ONESTOP_DATA=$PWD/loadgen-data k6 run loadtest/k6/cashier-peak.js
//   ONESTOP_RATE=400 ONESTOP_DURATION=5m ... for more
import { bills, runID, settle } from './lib.js';

const RATE = Number(__ENV.ONESTOP_RATE || 200);
const list = bills('cashier-peak');

export const options = {
  scenarios: {
    cashiers: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: __ENV.ONESTOP_DURATION || '2m',
      // Enough VUs for the rate at a 500 ms answer; past that k6 drops iterations and the
      // threshold below says so.
      preAllocatedVUs: Math.max(10, Math.ceil(RATE / 2)),
      maxVUs: Math.max(50, RATE * 2),
    },
  },
  thresholds: {
    grpc_req_duration: ['p(99)<500'],
    'grpc_req_duration{kind:outpatient}': ['p(99)<300'],
    checks: ['rate>0.999'],
    'checks{check:replayed}': ['rate==1'],
    dropped_iterations: ['count<1'],
  },
};

export function setup() {
  return { run: runID() };
}

export default function (data) {
  settle(list, { run: data.run, retry: Math.random() < 0.01 });
}
