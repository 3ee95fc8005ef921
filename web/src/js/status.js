// What the console makes of the API's state names (states.js, generated from chalicelib/states.py):
// each enumeration by member name, the colour of each state's badge, which host statuses the
// progress bars count as done, failed or busy, and which rollout states each control accepts.
// Pure data, no Backbone and no DOM: tests/test_states.py loads it in Node and checks it against
// chalicelib/states.py.
import * as generated from './states.js';

// A list of values as an object keyed by the member names of chalicelib/states.py, which are the
// values upper-cased with '-' as '_' (in_progress → IN_PROGRESS, pre-deploy → PRE_DEPLOY).
function named(values) {
  return Object.freeze(Object.fromEntries(values.map((v) => [v.toUpperCase().replace(/-/g, '_'), v])));
}

export const HostStatus = named(generated.HostStatus);
export const RolloutState = named(generated.RolloutState);
export const ReleaseState = named(generated.ReleaseState);
export const ReportStatus = named(generated.ReportStatus);
// Where a host stands with its load balancer's target groups (a host row's `drain.state`).
export const DrainState = named(generated.DrainState);

// Words the console shows in a badge that are not states of the API.
export const NO_ROLLOUT = 'none';   // a project before its first rollout
export const DRIFT = 'drift';       // a host runs another version than the project's
export const SILENT = 'silent';     // a host stopped polling

// Host rows highlighted, by class (console.css `tr.<flag>`): a failed or lost deploy, drift,
// silence.
export const ROW_FLAGS = Object.freeze([...generated.HOST_FAILED, DRIFT, SILENT]);

// The host statuses a row highlights as failed (the ones counted against max_failures).
export function isFailedHost(status) {
  return generated.HOST_FAILED.includes(status);
}

// Host statuses the progress bars count as done (green), failed (red) and busy (blue). Idle and
// waiting hosts count only towards the total.
export const PROGRESS = Object.freeze({
  done: Object.freeze([HostStatus.SUCCEEDED, HostStatus.SKIPPED]),
  failed: Object.freeze([...generated.HOST_FAILED, HostStatus.ROLLED_BACK]),
  busy: generated.HOST_IN_FLIGHT,
});

// The rollout states in which each control's button is enabled (the server decides; this only
// avoids dead clicks).
const R = RolloutState;
export const CONTROL_STATES = Object.freeze({
  promote: Object.freeze([R.RUNNING, R.SCHEDULED, R.WAITING_RELEASE]),
  pause: Object.freeze([R.RUNNING, R.SCHEDULED, R.WAITING_RELEASE]),
  resume: Object.freeze([R.PAUSED, R.HALTED]),
  rollback: Object.freeze([R.RUNNING, R.PAUSED, R.HALTED, R.SUCCEEDED, R.SCHEDULED,
    R.WAITING_RELEASE]),
});

// The colour of every word a badge shows (console.css `.badge.<tone>`): busy blue, good green,
// bad red, held amber, undone orange, quiet grey-blue; neutral is the plain grey badge. Skipped
// (a host already at the target, or a phase with nothing to do) went well: it is good, never bad.
const H = HostStatus;
const B = ReleaseState;
const S = ReportStatus;
export const BADGE_TONES = Object.freeze({
  busy: [R.RUNNING, H.IN_PROGRESS, H.PENDING, R.ROLLING_BACK, H.ROLLBACK_PENDING, H.DRAINING],
  good: [H.SUCCEEDED, H.SKIPPED, B.READY, S.OK],
  bad: [H.FAILED, H.LOST, R.HALTED, S.INTERRUPTED],
  held: [R.PAUSED, R.WAITING_RELEASE, R.SCHEDULED, B.BUILDING, B.QUEUED],
  undone: [H.ROLLED_BACK, DRIFT],
  quiet: [SILENT, H.LEFT],
  neutral: [H.IDLE, H.WAITING, R.SUPERSEDED, R.CANCELLED, B.AWAITING_ARTIFACT,
    NO_ROLLOUT, generated.HOST_UNKNOWN],
});

const TONE_OF = Object.freeze(Object.fromEntries(
  Object.entries(BADGE_TONES).flatMap(([tone, words]) => words.map((word) => [word, tone]))));

// The tone of a badge's word; an unknown word is neutral.
export function toneOf(word) {
  return Object.hasOwn(TONE_OF, word) ? TONE_OF[word] : 'neutral';
}


// A phase report that went well (ok, or skipped: nothing was needed).
export function reportWentWell(status) {
  return generated.REPORT_WENT_WELL.includes(status);
}

// Every status a host row can show, in the order the filter offers them.
export const HOST_ROW_STATUSES = Object.freeze([...generated.HostStatus, generated.HOST_UNKNOWN]);
