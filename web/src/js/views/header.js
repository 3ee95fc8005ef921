// The project page's header: what the fleet actually runs (versions seen on the hosts, with
// counts, from `hosts_view`), the version the project asks for and what became of it (a rolled
// back version is named as such, never as what runs), the release, and who changed it last.
import { html } from '../html.js';
import { humanize } from '../labels.js';
import { RolloutState } from '../status.js';
import { actorTag, badge, timeTag } from './ui.js';

const R = RolloutState;
const hostsText = (n) => `${n} host${n === 1 ? '' : 's'}`;

// "1.0.0 on 3 hosts, 2.0.0 on 1 host (2 not deployed yet)".
function fleet(view) {
  const seen = Object.entries(view.versions_seen || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = (view.hosts || []).length;
  const reached = seen.reduce((n, [, count]) => n + count, 0);
  if (!seen.length) return html`<span class="muted">nothing yet: no host has deployed this project</span>`;
  const rest = total - reached;
  return html`${seen.map(([version, count], i) => html`${i ? ', ' : ''}<span class="fleet-version"
    data-version="${version}"><strong>${version}</strong> on ${count === total ? `all ${hostsText(count)}`
    : hostsText(count)}</span>`)}${rest > 0 ? html` <span class="muted">(${hostsText(rest)} without it yet)</span>` : ''}`;
}

// What became of the project's version: rolled back, rolling back, rolling out, or in place.
function fate(p) {
  const r = p.rollout || {};
  if (!r.state || r.version !== p.version) return '';
  const back = r.rollback_to || r.previous_version;
  if (r.state === R.ROLLED_BACK) {
    return html`<span class="fate undone">rolled back${back ? ` to ${back}` : ''}: the fleet does not run it</span>`;
  }
  if (r.state === R.ROLLING_BACK) return html`<span class="fate undone">rolling back${back ? ` to ${back}` : ''}</span>`;
  if (r.state === R.SUCCEEDED) return html`<span class="fate">deployed</span>`;
  return html`<span class="fate">rollout ${badge('RolloutState', r.state)}</span>`;
}

function header(p, state) {
  const view = p.hosts_view || {};
  return html`
    <h1><span class="project-name">${p.id}</span> ${badge('RolloutState', state)}</h1>
    <dl class="facts card">
      <dt>Fleet runs</dt><dd class="fleet">${fleet(view)}</dd>
      <dt>Desired version</dt><dd class="desired"><strong>${p.version}</strong> ${fate(p)}</dd>
      <dt>Release</dt><dd>${p.release ? badge('ReleaseState', p.release.state) : html`<span class="muted">none</span>`}
        ${p.release && p.release.error ? html`<span class="muted">${humanize(p.release.error)}</span>` : ''}</dd>
      ${p.rollout && p.rollout.reason ? html`<dt>Reason</dt><dd>${humanize(p.rollout.reason)}</dd>` : ''}
      ${p.description ? html`<dt>Description</dt><dd>${p.description}</dd>` : ''}
      <dt>Updated</dt><dd>${timeTag(p.updated_at)} by ${actorTag(p.updated_by)} (revision ${p.rev})</dd>
    </dl>
    <p class="actions"><a class="button secondary" href="#project/${encodeURIComponent(p.id)}/edit">Edit settings</a></p>`;
}

const WATCHED = ['version', 'release', 'rollout', 'rev', 'hosts_view', 'updated_at', 'description'];

export const HeaderView = Backbone.View.extend({
  className: 'header',

  initialize() {
    this.listenTo(this.model, 'change', this.render);
  },

  // Redraw when something the header shows changed (a refresh that changed nothing draws nothing).
  render() {
    const changed = this.model.changedAttributes() || {};
    if (this.el.children.length && !WATCHED.some((k) => k in changed)) return this;
    this.$el.html(String(header(this.model.toJSON(), this.model.rolloutState())));
    return this;
  },
});
