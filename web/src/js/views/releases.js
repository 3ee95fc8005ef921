// A project's release history (newest first, as GET /api/v1/project/{id} returns `releases`):
// version (and what it was built from: provenance.js), build state, when it was built, size and
// checksum, how many hosts run it, and "Roll
// back to this version" for a ready release — confirmed first, then POST .../rollback?to=V.
import { html } from '../html.js';
import { humanize, labelOf } from '../labels.js';
import { CONTROL_STATES, ReleaseState } from '../status.js';
import { absolute } from '../times.js';
import { ProvenanceView } from './provenance.js';
import { Base, badge, confirmAction, flash, timeTag } from './ui.js';

function size(bytes) {
  if (bytes === null || bytes === undefined) return '—';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// Why a release cannot be the target of a rollback now ('' when it can).
function refusal(release, rollout) {
  if (release.state !== ReleaseState.READY) return 'only a ready release can be rolled back to';
  if (!rollout || !rollout.state) return 'there is no rollout to roll back';
  if (release.version === rollout.version) return 'this is the rollout’s own version';
  if (!CONTROL_STATES.rollback.includes(rollout.state)) {
    return `a rollout that is ${labelOf('RolloutState', rollout.state).toLowerCase()} cannot be rolled back`;
  }
  return '';
}

function row(release, { project, rollout, seen, builtFrom }) {
  const why = refusal(release, rollout);
  const running = seen[release.version] || 0;
  const marks = [release.version === project.version ? 'desired' : '',
    rollout && release.version === rollout.version ? 'rollout' : ''].filter(Boolean);
  return html`<tr data-version="${release.version}">
    <th scope="row">${release.version}${marks.length
      ? html` <span class="muted">(${marks.join(', ')})</span>` : ''}${builtFrom[release.version]
      ? html`<div class="muted built-from">${builtFrom[release.version]}</div>` : ''}</th>
    <td>${badge('ReleaseState', release.state)}${release.error
      ? html`<div class="muted release-error">${humanize(release.error)}</div>` : ''}</td>
    <td>${timeTag(release.created_at)}</td>
    <td class="opt">${size(release.size)}</td>
    <td class="opt">${release.sha256 ? html`<code title="${release.sha256}">${release.sha256.slice(0, 12)}</code>` : '—'}</td>
    <td>${running ? `${running} host${running === 1 ? '' : 's'}` : html`<span class="muted">none</span>`}</td>
    <td><button type="button" class="secondary danger-outline roll-back-to"
      data-version="${release.version}" ${why ? 'disabled' : ''} title="${why || `Send the hosts back to ${release.version}`}"
      aria-label="Roll back to ${release.version}">Roll back to this version</button></td>
  </tr>`;
}

const FRAME = html`
  <h2 id="releases-title">Releases</h2>
  <div class="releases-result" role="alert"></div>
  <div class="provenance-slot"></div>
  <div class="table-wrap">
    <table class="releases">
      <thead><tr><th scope="col">Version</th><th scope="col">Build</th><th scope="col">Built</th>
        <th scope="col" class="opt">Size</th><th scope="col" class="opt">SHA-256</th>
        <th scope="col">Running on</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p class="releases-empty muted" hidden>No release yet.</p>`;

export const ReleasesView = Base.extend({
  tagName: 'section',
  className: 'card releases-card',
  attributes: { 'aria-labelledby': 'releases-title' },
  events: { 'click .roll-back-to': 'rollBackTo' },

  initialize() {
    this.listenTo(this.model, 'change:releases change:rollout change:hosts_view change:version', this.draw);
    this.provenance = new ProvenanceView({ model: this.model });
    this.subviews = [this.provenance];
    this.listenTo(this.provenance, 'built-from', this.draw);
  },

  render() {
    this.$el.html(String(FRAME));
    this.$('.provenance-slot').append(this.provenance.render().el);
    this.draw();
    return this;
  },

  draw() {
    const releases = this.model.get('releases') || [];
    const context = { project: this.model.toJSON(), rollout: this.model.get('rollout'),
      seen: (this.model.get('hosts_view') || {}).versions_seen || {},
      builtFrom: this.provenance.builtFrom };
    const focused = (this.$('.roll-back-to:focus')[0] || {}).dataset?.version;
    this.$('tbody').html(String(html`${releases.map((r) => row(r, context))}`));
    this.$('.releases-empty').prop('hidden', releases.length > 0);
    if (focused) this.$(`.roll-back-to[data-version="${CSS.escape(focused)}"]`).trigger('focus');
  },

  // Confirm, then ask the API to send every host on the rollout's version back to this one.
  async rollBackTo(event) {
    const { version } = event.currentTarget.dataset;
    const rollout = this.model.get('rollout') || {};
    const release = (this.model.get('releases') || []).find((r) => r.version === version) || {};
    const text = `Every host of ${this.model.id} that runs ${rollout.version} (or is deploying it) ` +
      `goes back to ${version}${release.created_at ? `, built ${absolute(release.created_at)}` : ''}. ` +
      `The rollout of ${rollout.version} stops.`;
    if (!await confirmAction(`Roll back to ${version}?`, text, `Roll back to ${version}`)) return;
    const result = this.$('.releases-result').empty();
    try {
      const summary = await this.model.control('rollback', { query: `?to=${encodeURIComponent(version)}` });
      flash(`Rolling back ${this.model.id} to ${version}: the rollout is now ${summary && summary.state
        ? labelOf('RolloutState', summary.state).toLowerCase() : 'updated'}.`);
    } catch (error) {
      result.append($('<div class="alert conflict"></div>').text(
        `The API refused to roll back to ${version}: ${humanize(error.message)}` +
        `${error.status ? ` (HTTP ${error.status})` : ''}`));
    }
    this.trigger('changed');
  },
});
