// The projects page: one row per project (name, version, rollout state, progress); each row
// re-renders only when its own project changed on a refresh.
import { Projects } from '../collections/projects.js';
import { html } from '../html.js';
import { ReleaseState, RolloutState } from '../status.js';
import { apiRequest } from '../sync.js';
import { absolute } from '../times.js';
import {
  actorTag, Base, badge, countdownTag, describeLoadError, poll, progressBar, progressText, timeTag,
} from './ui.js';

// How many waiting updates the projects page lists (soonest first); more are said to exist.
export const SCHEDULED_LISTED = 20;

// The version cell: a rolled-back version is not what the hosts run, and says so.
function versionCell(p) {
  const r = p.rollout || {};
  if (r.version === p.version && r.state === RolloutState.ROLLED_BACK) {
    const back = r.rollback_to || r.previous_version;
    return html`${back ? html`<strong>${back}</strong> ` : ''}<span class="muted">(${p.version} rolled back)</span>`;
  }
  if (r.version === p.version && r.state === RolloutState.ROLLING_BACK) {
    return html`${p.version} <span class="muted">(rolling back to ${r.rollback_to || r.previous_version || '—'})</span>`;
  }
  return html`${p.version}`;
}

// The hosts cell: listed hosts plus fleet members (host_total); '?' while a fleet is not counted.
function hostsCell(p) {
  if (!('host_total' in p)) return String((p.hosts || []).length);
  if (p.host_total === null) return html`<span class="muted" title="the fleet's members are not counted yet">?</span>`;
  const fleet = p.fleet_members ? ` (${p.fleet_members} in the fleet)` : '';
  return html`<span title="${p.host_total} hosts${fleet}">${p.host_total}</span>`;
}

function rowHtml(p, state, release, overall) {
  return html`
  <td><a href="#project/${encodeURIComponent(p.id)}">${p.id}</a>
    ${p.description ? html`<div class="muted">${p.description}</div>` : ''}</td>
  <td class="version">${versionCell(p)}</td>
  <td class="hosts-total">${hostsCell(p)}</td>
  <td>${badge('RolloutState', state)}
    ${release ? badge('ReleaseState', release) : ''}${p.pending ? html` <span class="badge held"
      title="an update is scheduled for ${p.pending.apply_at}">Update scheduled</span>` : ''}</td>
  <td class="progress-cell">${progressBar(overall, `Rollout progress of ${p.id}`)}<span
    class="progress-label">${progressText(overall)}</span></td>
  <td class="opt">${timeTag(p.updated_at)}</td>`;
}

// The updates waiting for their apply_at, soonest first (GET /api/v1/project?scheduled=true).
function scheduledRows(projects, more) {
  return html`${projects.map((p) => html`<li data-project="${p.id}">
    <a href="#project/${encodeURIComponent(p.id)}">${p.id}</a>:
    ${Object.keys((p.pending && p.pending.changes) || {}).join(', ') || 'no field'} at
    <time datetime="${p.pending.apply_at}">${absolute(p.pending.apply_at)}</time>
    (${countdownTag(p.pending.apply_at, 'due: applies on the next tick')})${p.pending.by
      ? html`, requested by ${actorTag(p.pending.by)}` : ''}</li>`)}${more
      ? html`<li class="muted">More updates wait after these ${projects.length}.</li>` : ''}`;
}

const PAGE = html`
  <h1>Projects</h1>
  <div class="load-error alert error" role="alert" hidden></div>
  <section class="card scheduled-list" aria-labelledby="scheduled-list-title" hidden>
    <h2 id="scheduled-list-title">Scheduled updates</h2>
    <p class="muted">Waiting for their time, soonest first; open a project to cancel its update.</p>
    <ul></ul>
  </section>
  <div class="table-wrap card">
    <table class="projects">
      <caption class="muted">Refreshed every few seconds.</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Version</th><th scope="col">Hosts</th>
        <th scope="col">Rollout</th>
        <th scope="col">Progress</th><th scope="col" class="opt">Updated</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="empty muted" hidden>No projects yet. <a href="#new">Create one</a>.</p>
    <p class="more muted" hidden>Only the first 100 projects (by name) are listed here; open
      another one by its address, <code>#project/&lt;name&gt;</code>.</p>
  </div>`;

// One project's row.
const ProjectRowView = Backbone.View.extend({
  tagName: 'tr',

  initialize() {
    this.listenTo(this.model, 'change', this.render);
  },

  // Draw the row; counted in data-renders so a test can see what a refresh redrew.
  render() {
    const overall = this.model.overall();
    const p = this.model.toJSON();
    this.$el.attr({ 'data-project': p.id, 'data-renders': (Number(this.$el.attr('data-renders')) || 0) + 1 });
    // A release that is not ready yet (or failed) gets its own badge.
    const release = p.release && p.release.state !== ReleaseState.READY ? p.release.state : null;
    this.$el.html(String(rowHtml(p, this.model.rolloutState(), release, overall)));
    return this;
  },
});

export const ProjectsView = Base.extend({
  initialize() {
    this.collection = new Projects();
    this.rows = {};
    this.listenTo(this.collection, 'add', this.addRow);
    this.listenTo(this.collection, 'remove', this.removeRow);
    this.listenTo(this.collection, 'sort update', this.order);
  },

  // Draw the page once, then keep the rows in step with the API.
  render() {
    this.$el.html(String(PAGE));
    poll(this, async () => {
      await this.collection.fetch();
      this.$('.load-error').prop('hidden', true);
      this.$('.empty').prop('hidden', this.collection.length > 0);
      this.$('.more').prop('hidden', !this.collection.nextCursor);
      await this.refreshScheduled();
    }, (error) => this.$('.load-error').text(describeLoadError(error, 'Could not load the projects'))
      .prop('hidden', false));
    return this;
  },

  // The waiting updates across every project (not only the first page of the list).
  async refreshScheduled() {
    let data;
    try {
      data = await apiRequest('GET', `/api/v1/project?scheduled=true&limit=${SCHEDULED_LISTED}`);
    } catch (error) {            // the list of projects above stays; say what is missing
      this.scheduledDrawn = null;
      this.$('.scheduled-list').prop('hidden', false).find('ul').html(String(html`<li class="muted">${
        describeLoadError(error, 'The scheduled updates are not available')}</li>`));
      return;
    }
    const waiting = (data && data.projects) || [];
    const drawn = waiting.map((p) => [p.id, p.pending]).concat([Boolean(data && data.next_cursor)]);
    if (_.isEqual(drawn, this.scheduledDrawn)) return;
    this.scheduledDrawn = drawn;
    const card = this.$('.scheduled-list').prop('hidden', !waiting.length);
    card.find('ul').html(String(scheduledRows(waiting, Boolean(data && data.next_cursor))));
  },

  addRow(project) {
    this.rows[project.cid] = new ProjectRowView({ model: project }).render();
  },

  removeRow(project) {
    this.rows[project.cid].remove();
    delete this.rows[project.cid];
  },

  // Keep the rows in the collection's order (moving a node does not redraw it).
  order() {
    const body = this.$('tbody');
    this.collection.each((project) => body.append(this.rows[project.cid].el));
  },

  remove() {
    _.invoke(Object.values(this.rows), 'remove');
    return Base.prototype.remove.call(this);
  },
});
