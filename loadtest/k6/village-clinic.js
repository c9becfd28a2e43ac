// A village clinic (LC1) on a slow link: small outpatient and chronic bills only, in the
// bursts of a morning queue and market day, with short deadlines — a cashier will not wait
// ten seconds with a patient at the window, so a slow answer counts as a failure here.
//
//   ONESTOP_DATA=$PWD/loadgen-data k6 run loadtest/k6/village-clinic.js
import { bills, runID, settle } from './lib.js';

const PEAK = Number(__ENV.ONESTOP_PEAK_RATE || 30);
const list = bills('village-clinic', (b) => b.institution_id === 'LC1');

export const options = {
  scenarios: {
    village: {
      executor: 'ramping-arrival-rate',
      startRate: 1,
      timeUnit: '1s',
      preAllocatedVUs: 10,
      maxVUs: Math.max(20, PEAK * 2),
      stages: [
        { target: 2, duration: '30s' }, // the early trickle
        { target: PEAK, duration: '10s' }, // the morning queue arrives at once
        { target: PEAK, duration: '1m' },
        { target: 2, duration: '20s' },
        { target: 2, duration: '30s' },
        { target: PEAK, duration: '5s' }, // a second, sharper burst
        { target: PEAK, duration: '30s' },
        { target: 0, duration: '10s' },
      ],
    },
  },
  thresholds: {
    grpc_req_duration: ['p(99)<800'],
    checks: ['rate>0.999'],
    dropped_iterations: ['count<1'],
  },
};

export function setup() {
  return { run: runID() };
}

export default function (data) {
  settle(list, { run: data.run, timeout: '3s', connectTimeout: '2s' });
}
