// What a project's releases were built from (GET /api/v1/project/{id}/releases) and, for the
// version being rolled out, what it changes (GET /api/v1/project/{id}/releases/{version}): "built
// from git abc1234 'subject'" and a collapsible "What's changing" list of its commits since the
// previous release (the API keeps at most 100; the first LIST_SHOWN are listed, the rest
// counted). Each request is made only when the releases or the version change, never per poll.
import { html } from '../html.js';
import { apiRequest } from '../sync.js';
import { Base } from './ui.js';

// Commits listed (the API answers at most 100): the rest are counted.
const LIST_SHOWN = 50;
// Releases whose "built from" line the table shows (the list route's page size).
const PAGE = 20;

function commitRow(commit) {
  return html`<li class="commit"><code title="${commit.sha}">${(commit.sha || '').slice(0, 7)}</code>
    <span class="subject">${commit.subject}</span>
    <span class="muted">${commit.author}${commit.date ? `, ${commit.date.slice(0, 10)}` : ''}</span></li>`;
}

// The "What's changing" part of one release's provenance.
function changesBlock(changes) {
  if (!changes) return '';
  const since = changes.previous_version ? ` since ${changes.previous_version}` : '';
  if (changes.changes_unknown) {
    return html`<p class="whats-changing muted">What's changing${since}: unknown (${changes.changes_unknown}).</p>`;
  }
  const commits = changes.commits || [];
  const total = changes.total ?? commits.length;
  const shown = commits.slice(0, LIST_SHOWN);
  const rest = total - shown.length;
  return html`<details class="whats-changing" ${total <= 10 ? 'open' : ''}>
    <summary>What's changing${since}: ${total} commit${total === 1 ? '' : 's'}</summary>
    <ol class="commits">${shown.map(commitRow)}</ol>
    ${rest > 0 ? html`<p class="muted">… and ${rest} older commit${rest === 1 ? '' : 's'}</p>` : ''}
  </details>`;
}

export function provenanceBlock(release) {
  if (!release) return '';
  const from = release.built_from
    ? html`built from <span class="built-from">${release.built_from}</span>`
    : html`<span class="muted">built from a source that recorded no revision</span>`;
  return html`<div class="provenance" data-version="${release.version}">
    <p><strong>${release.version}</strong> ${from}</p>
    ${changesBlock((release.provenance || {}).changes)}
  </div>`;
}

export const ProvenanceView = Base.extend({
  className: 'provenance-view',

  initialize() {
    this.builtFrom = {};
    this.listenTo(this.model, 'change:releases', this.loadList);
    this.listenTo(this.model, 'change:rollout change:version change:releases', this.loadDetail);
  },

  render() {
    this.loadList();
    this.loadDetail();
    return this;
  },

  // The version the operator cares about: the rollout's, else the project's.
  target() {
    return ((this.model.get('rollout') || {}).version) || this.model.get('version');
  },

  // The state of that release in the project's own JSON: a reload is due when it changes.
  async loadDetail() {
    const version = this.target();
    const state = ((this.model.get('releases') || []).find((r) => r.version === version) || {}).state;
    const key = `${version}#${state}`;
    if (!version || key === this.detailKey) return;
    this.detailKey = key;
    try {
      const release = await apiRequest('GET',
        `/api/v1/project/${encodeURIComponent(this.model.id)}/releases/${encodeURIComponent(version)}`);
      if (this.detailKey === key) this.$el.html(String(provenanceBlock(release)));
    } catch (error) {
      if (this.detailKey === key) this.$el.empty();
    }
  },

  async loadList() {
    try {
      const body = await apiRequest('GET',
        `/api/v1/project/${encodeURIComponent(this.model.id)}/releases?limit=${PAGE}`);
      this.builtFrom = Object.fromEntries((body.releases || []).map((r) => [r.version, r.built_from]));
      this.trigger('built-from');
    } catch (error) {
      this.builtFrom = {};
    }
  },
});
