// What an operator reads for each state name of the API: one map, keyed by the enumerations of
// states.js (generated from chalicelib/states.py), so a rolled-back rollout reads "Rolled back"
// in every view. Also how a caller's ARN is shown (its last segment; the full ARN goes in a tooltip).
// Pure data and functions, no DOM: tests/test_states.py loads it in Node and checks that every
// state has a label.
import * as generated from './states.js';
import {
  DrainState, DRIFT, HostStatus, NO_ROLLOUT, ReleaseState, ReportStatus, RolloutState, SILENT,
} from './status.js';

const H = HostStatus;
const R = RolloutState;
const B = ReleaseState;
const S = ReportStatus;

function named(values) {
  return Object.fromEntries(values.map((v) => [v.toUpperCase().replace(/-/g, '_'), v]));
}
const P = named(generated.Phase);
const K = named(generated.DeployKind);

export const LABELS = Object.freeze({
  HostStatus: Object.freeze({
    [H.IDLE]: 'Idle',
    [H.WAITING]: 'Waiting for its wave',
    [H.PENDING]: 'Deploy queued',
    [H.IN_PROGRESS]: 'Deploying',
    [H.SUCCEEDED]: 'Succeeded',
    [H.FAILED]: 'Failed',
    [H.LOST]: 'Lost',
    [H.SKIPPED]: 'Skipped (already there)',
    [H.ROLLBACK_PENDING]: 'Rollback queued',
    [H.ROLLED_BACK]: 'Rolled back',
    [H.DRAINING]: 'Draining traffic',
    [H.LEFT]: 'Left the fleet',
    [generated.HOST_UNKNOWN]: 'Not planned yet',
  }),
  RolloutState: Object.freeze({
    [R.SCHEDULED]: 'Scheduled',
    [R.WAITING_RELEASE]: 'Waiting for release',
    [R.RUNNING]: 'Running',
    [R.PAUSED]: 'Paused',
    [R.HALTED]: 'Halted',
    [R.ROLLING_BACK]: 'Rolling back',
    [R.SUCCEEDED]: 'Succeeded',
    [R.ROLLED_BACK]: 'Rolled back',
    [R.SUPERSEDED]: 'Superseded',
    [R.CANCELLED]: 'Cancelled',
    [NO_ROLLOUT]: 'No rollout yet',
  }),
  ReleaseState: Object.freeze({
    [B.QUEUED]: 'Build queued',
    [B.BUILDING]: 'Building',
    [B.AWAITING_ARTIFACT]: 'Waiting for CI upload',
    [B.READY]: 'Ready',
    [B.FAILED]: 'Build failed',
  }),
  ReportStatus: Object.freeze({
    [S.OK]: 'OK',
    [S.FAILED]: 'Failed',
    [S.SKIPPED]: 'Skipped',
    [S.INTERRUPTED]: 'Interrupted',
  }),
  Phase: Object.freeze({
    [P.PRE_DEPLOY]: 'Pre-deploy',
    [P.DO_DEPLOY]: 'Deploy',
    [P.POST_DEPLOY]: 'Post-deploy',
    [P.ROLLBACK]: 'Rollback',
  }),
  DeployKind: Object.freeze({
    [K.DEPLOY]: 'Deploy',
    [K.ROLLBACK]: 'Rollback',
  }),
  // Words the console adds to a host's row.
  Flag: Object.freeze({
    [DRIFT]: 'Drift',
    [SILENT]: 'Silent',
  }),
  // How a host belongs to the project (`member` of a host row).
  Member: Object.freeze({
    listed: 'Listed',
    fleet: 'Fleet',
  }),
  // Where a host stands with its load balancer's target groups (`drain.state` of a host row).
  DrainState: Object.freeze({
    [DrainState.DRAINING]: 'Draining',
    [DrainState.OUT]: 'Out of its target groups',
    [DrainState.KEPT_OUT]: 'Kept out of its target groups',
    [DrainState.REGISTERED]: 'Registered again',
  }),
});

// The label of `value` in enumeration `kind` ('HostStatus', 'RolloutState', ...); an unknown
// value is shown as sent, with underscores as spaces (never an empty badge).
export function labelOf(kind, value) {
  const table = LABELS[kind] || {};
  if (value === null || value === undefined || value === '') return '—';
  if (Object.hasOwn(table, value)) return table[value];
  const text = String(value).replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// The name of a caller: the last segment of its ARN ("arn:aws:iam::1:user/ops/alice" → "alice",
// "arn:aws:sts::1:assumed-role/fabu-console/alice" → "alice"); anything else as it is.
export function actorName(actor) {
  if (!actor) return '';
  const text = String(actor);
  if (!text.startsWith('arn:')) return text;
  const resource = text.split(':').slice(5).join(':');
  const segments = resource.split('/').filter(Boolean);
  return segments.length ? segments[segments.length - 1] : text;
}

// What an event of the timeline is called (its `kind` stays in data-kind and the tooltip).
// Kinds not listed here read as their words: "gate.before_wave" → "Gate: before wave".
export const EVENT_LABELS = Object.freeze({
  'project.created': 'Project created',
  'project.updated': 'Project updated',
  'project.deleted': 'Project deleted',
  'project.update_scheduled': 'Update scheduled',
  'project.update_applied': 'Scheduled update applied',
  'project.update_cancelled': 'Scheduled update cancelled',
  'project.update_failed': 'Scheduled update failed',
  'build.queued': 'Build queued',
  'build.started': 'Build started',
  'build.retrying': 'Build retrying',
  'build.ready': 'Release ready',
  'build.failed': 'Build failed',
  'artifact.upload_requested': 'CI upload requested',
  'release.awaiting_artifact': 'Waiting for CI upload',
  'rollout.scheduled': 'Rollout scheduled',
  'rollout.waiting': 'Rollout waiting',  // for its release, a bake, a window, the freeze, the alarms' watch
  'rollout.started': 'Rollout started',
  'rollout.wave_started': 'Wave started',
  'rollout.wave_done': 'Wave finished',
  'rollout.promoted': 'Promoted',
  'rollout.paused': 'Paused',
  'rollout.resumed': 'Resumed',
  'rollout.halted': 'Rollout halted',
  'rollout.succeeded': 'Rollout succeeded',
  'rollout.rollback_requested': 'Rollback requested',
  'rollout.rolled_back': 'Rolled back',
  'rollout.superseded': 'Rollout superseded',
  'rollout.cancelled': 'Rollout cancelled',
  'rollout.blocked': 'Rollout blocked',
  'rollout.hosts_added': 'Hosts added',
  'rollout.recovered': 'Rollout recovered',
  'rollout.error': 'Rollout error',
  'rollout.alarm': 'Alarm fired',
  'rollout.analysis_passed': 'Canary analysis passed',
  'rollout.analysis_failed': 'Canary analysis failed',
  'rollout.freeze_override': 'Promoted through the freeze',
  'release.promoted': 'Release promoted',
  'release.promotion_failed': 'Automatic promotion failed',
  'stage.frozen': 'Stage frozen',
  'stage.thawed': 'Stage thawed',
  'host.succeeded': 'Host deployed',
  'host.failed': 'Host failed',
  'host.lost': 'Host lost',
  'host.interrupted': 'Host deploy interrupted',
  'host.blocked': 'Host blocked',
  'host.rolled_back': 'Host rolled back',
  'host.rollback_failed': 'Host rollback failed',
  'host.message': 'Host message',
  'host.messages_dropped': 'Host messages dropped',
  'host.joined': 'Host joined the fleet',
  'host.left': 'Host left the fleet',
  'host.draining': 'Host draining traffic',
  'host.registered': 'Host back in its target groups',
  'host.kept_out': 'Host kept out of its target groups',
  'host.drifted': 'Host drifted',
  'fleet.sync_failed': 'Fleet sync failed',
  'fleet.sync_recovered': 'Fleet sync recovered',
  'gate.waiting': 'Gate waiting',
  'gate.approved': 'Gate approved',
  'gate.expired': 'Gate expired',
  'report.generated': 'Report generated',
  'notify.failed': 'Notification failed',
});

// The label of an event kind; an unlisted one as words, never with dots or underscores.
export function eventLabel(kind) {
  if (!kind) return '—';
  if (Object.hasOwn(EVENT_LABELS, kind)) return EVENT_LABELS[kind];
  const [scope, ...rest] = String(kind).split('.');
  const words = (text) => text.replace(/[_.-]+/g, ' ').trim();
  const head = words(scope);
  const text = rest.length ? `${head}: ${words(rest.join(' '))}` : head;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// Server text (a rollout's reason, an event's message, an API error) with every state name
// spelled as an operator reads it: "waiting for release 1.0.0 (awaiting_artifact)" → "… (waiting
// for CI upload)". Only names with an underscore are replaced (plain words read as English).
const SPELLED = (() => {
  const out = {};
  for (const kind of ['ReleaseState', 'RolloutState', 'HostStatus', 'ReportStatus']) {
    for (const [value, label] of Object.entries(LABELS[kind])) {
      if (value.includes('_') && !Object.hasOwn(out, value)) out[value] = label.charAt(0).toLowerCase() + label.slice(1);
    }
  }
  return Object.freeze(out);
})();

export function humanize(text) {
  if (text === null || text === undefined) return '';
  return String(text).replace(/\b[a-z]+(?:_[a-z]+)+\b/g,
    (word) => (Object.hasOwn(SPELLED, word) ? SPELLED[word] : word));
}
