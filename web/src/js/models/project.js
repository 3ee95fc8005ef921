// A project as the API returns it: the operator's settings plus the server's read-only view
// (rollout summary, per-host view, release, releases). Controls are calls on the model.
import { NO_ROLLOUT, PROGRESS } from '../status.js';
import { apiRequest } from '../sync.js';

// Fields the server computes: never sent back on a save.
const READ_ONLY = ['id', 'rev', 'etag', 'created_at', 'created_by', 'updated_at', 'updated_by',
  'pending', 'release', 'releases', 'rollout', 'hosts_view', 'host_total', 'fleet_members',
  'promotion'];

// {done, failed, busy, total} from a {status: count} map (status.js says which status is which).
export function tally(counts) {
  const sum = (names) => names.reduce((n, name) => n + (counts[name] || 0), 0);
  const total = Object.values(counts || {}).reduce((n, c) => n + c, 0);
  return { done: sum(PROGRESS.done), failed: sum(PROGRESS.failed), busy: sum(PROGRESS.busy), total };
}

export const Project = Backbone.Model.extend({
  urlRoot: '/api/v1/project',

  // The settings to send: everything but the server's read-only fields.
  toPayload() {
    return _.omit(this.toJSON(), READ_ONLY);
  },

  // The rollout's state, or 'none' before the first rollout.
  rolloutState() {
    const rollout = this.get('rollout');
    return rollout ? rollout.state : NO_ROLLOUT;
  },

  // Host counts over every wave of the current rollout.
  overall() {
    const counts = {};
    for (const wave of (this.get('rollout') || {}).waves || []) {
      for (const [status, n] of Object.entries(wave.counts || {})) {
        counts[status] = (counts[status] || 0) + n;
      }
    }
    const result = tally(counts);
    // Hosts not planned yet have no count: the project's host total (listed + fleet members).
    const hostTotal = this.get('host_total');
    result.total = Math.max(result.total, hostTotal ?? (this.get('hosts') || []).length);
    return result;
  },

  // Promote, pause, resume or roll back; resolves to the rollout summary, then refetches.
  async control(action, { query = '' } = {}) {
    const summary = await apiRequest('POST', `${this.url()}/${action}${query}`);
    this.set('rollout', summary);
    return summary;
  },
});
