// The API body of the project form: every field for a create, only what changed for an update.
// Pure (no DOM, no Backbone): the form view reads its inputs into `values` and calls these.
import { parseWaves } from './waves.js';

// The scripts of a project: [field, label, hint].
export const SCRIPTS = [
  ['start', 'Start script', 'Starts the new version (runs in the release directory).'],
  ['stop', 'Stop script', 'Stops the running version before the switch.'],
  ['test', 'Test script', 'Unit or smoke tests run before the switch (optional).'],
  ['pre_deploy', 'Pre-deploy script', 'Environment checks before anything changes (optional).'],
  ['post_deploy', 'Post-deploy script', 'Checks after start; failing rolls the host back (optional).'],
  ['health', 'Health check', 'Polled after start until it passes or times out (optional).'],
];

export const lines = (list) => (list || []).join('\n');
export const hookUrl = (hook) => (hook ? (typeof hook === 'string' ? hook : hook.url) : '');

// Listed hosts one per line: "web-1.example.com", or "web-1.example.com us-east-1a" for a host
// with its zone ({name, zone} in the API), and back.
export const hostLines = (hosts) => lines((hosts || []).map((h) => (h && typeof h === 'object'
  ? `${h.name}${h.zone ? ` ${h.zone}` : ''}` : h)));
function hostEntry(line) {
  const [name, ...zone] = line.split(/\s+/);
  return zone.length ? { name, zone: zone.join(' ') } : name;
}

// The fleet's EC2 tags one "Key=Value" per line ({Key: Value} in the API), and back.
export const tagLines = (tags) => lines(Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`));
function tagsFrom(text) {
  const tags = {};
  for (const line of splitLines(text)) {
    const at = line.indexOf('=');
    if (at < 0) tags[line] = '';
    else tags[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return tags;
}

// `fleet` from the form: null when it selects nothing (a project without a fleet).
export function fleetFrom(values) {
  const tags = tagsFrom(values['fleet.ec2_tags'] || '');
  const groups = splitLines(values['fleet.autoscaling_groups'] || '');
  if (!Object.keys(tags).length && !groups.length) return null;
  const fleet = {};
  if (Object.keys(tags).length) fleet.ec2_tags = tags;
  if (groups.length) fleet.autoscaling_groups = groups;
  return fleet;
}

// "5" → 5, "10%" → "10%": numbers travel as numbers, anything else as typed (the API judges).
function numberOrText(text) {
  const value = text.trim();
  return /^\d+$/.test(value) ? Number(value) : value;
}

export const splitLines = (text) => text.split('\n').map((l) => l.trim()).filter(Boolean);
const splitList = (text) => text.split(/[\s,]+/).map((l) => l.trim()).filter(Boolean);

// A webhook as before when its URL did not change (keeps its secret and timeouts).
function keepHook(url, previous) {
  const old = (previous || []).find((h) => hookUrl(h) === url);
  return old && typeof old === 'object' ? old : { url };
}

// The API body from the form's values.
export function payloadFrom(values, previous, isNew) {
  const body = {
    version: values.version.trim(),
    description: values.description,
    hosts: splitLines(values.hosts).map(hostEntry),
    fleet: fleetFrom(values),
    deploy_at: values.deploy_at.trim() || null,
    ci_server: values.ci_server.trim() || null,
    deb_dependencies: splitLines(values.deb_dependencies),
    depends_on: splitLines(values.depends_on).map((line) => {
      const [project, ...spec] = line.split(/\s+/);
      return spec.length ? { project, version: spec.join(' ') } : { project };
    }),
    scripts: {},
    rollout: {
      waves: parseWaves(values['rollout.waves']),
      canary_hosts: splitList(values['rollout.canary_hosts']),
      auto_promote: values['rollout.auto_promote'] === 'on',
      auto_rollback: values['rollout.auto_rollback'] === 'on',
      rollback_mode: values['rollout.rollback_mode'],
    },
    notify: {},
    gates: {},
  };
  if (isNew) body.name = values.name.trim();
  if (isNew && body.fleet === null) delete body.fleet;
  for (const key of ['bake_seconds', 'max_failures', 'deploy_timeout', 'max_parallel', 'health_timeout', 'keep_releases']) {
    body.rollout[key] = numberOrText(values[`rollout.${key}`] || '');
  }
  for (const [name] of SCRIPTS) {
    if (values[`scripts.${name}`].trim()) body.scripts[name] = values[`scripts.${name}`];
  }
  if (values['source.type']) {
    body.source = { type: values['source.type'], url: values['source.url'].trim() };
    for (const key of ['ref', 'credentials']) {
      if (values[`source.${key}`].trim()) body.source[key] = values[`source.${key}`].trim();
    }
  } else {
    body.source = null;
  }
  if (values['notify.sns_topic_arn'].trim()) body.notify.sns_topic_arn = values['notify.sns_topic_arn'].trim();
  body.notify.webhooks = splitLines(values['notify.webhooks'])
    .map((url) => keepHook(url, (previous.notify || {}).webhooks));
  for (const gate of ['before_wave', 'after']) {
    const url = values[`gates.${gate}`].trim();
    if (url) body.gates[gate] = keepHook(url, [(previous.gates || {})[gate]].filter(Boolean));
  }
  return body;
}

// An update sends only what the user changed since the form was drawn (the API merges
// `rollout` key by key), so untouched fields keep their stored values and the event log
// names the fields that really changed.
export function changedFields(body, initial) {
  const changes = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'rollout') {
      const rollout = _.pick(value, (v, k) => !_.isEqual(v, initial.rollout[k]));
      if (!_.isEmpty(rollout)) changes.rollout = rollout;
    } else if (!_.isEqual(value, initial[key])) {
      changes[key] = value;
    }
  }
  return changes;
}

