// The project page: header, controls, per-wave and overall progress, the per-host table (drift,
// silent and lost highlighted), one host's report output, and the event timeline. One poll
// refetches the project and its events; each part redraws only when its own data changed.
import { Events } from '../collections/events.js';
import { Hosts } from '../collections/hosts.js';
import { HostReport } from '../models/host_report.js';
import { Project, tally } from '../models/project.js';
import { DRIFT, ROW_FLAGS, SILENT } from '../status.js';
import { ControlsView } from './controls.js';
import {
  Base, badge, describeLoadError, poll, progressBar, progressText, reportBadge, timeTag,
} from './ui.js';

const PAGE = _.template(`
  <div class="load-error alert error" role="alert" hidden></div>
  <div class="header"></div>
  <div class="controls-slot"></div>
  <section class="card rollout" aria-labelledby="rollout-title"></section>
  <section class="card" aria-labelledby="hosts-title">
    <h2 id="hosts-title">Hosts</h2>
    <p class="hosts-summary muted"></p>
    <div class="table-wrap">
      <table class="hosts">
        <thead><tr><th scope="col">Host</th><th scope="col">Target</th><th scope="col">Running</th>
          <th scope="col">Status</th><th scope="col" class="opt">Wave</th>
          <th scope="col">Last report</th><th scope="col"><span class="visually-hidden">Output</span></th></tr></thead>
        <tbody></tbody>
      </table>
    </div>
  </section>
  <section class="card host-report" aria-labelledby="report-title" tabindex="-1">
    <h2 id="report-title">Host report</h2>
    <div class="report-body muted">Choose “Output” on a host to see its last deploy's report.</div>
  </section>
  <section class="card" aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline</h2>
    <div class="timeline-error alert info" role="status" hidden></div>
    <ol class="timeline" reversed></ol>
  </section>`);

const HEADER = _.template(`
  <h1><%- p.id %> <span class="muted"><%- p.version %></span> <%= badge(state) %></h1>
  <dl class="facts card">
    <dt>Release</dt><dd><%= p.release ? badge(p.release.state, p.release.state) : '<span class="muted">none</span>' %>
      <% if (p.release && p.release.error) { %><span class="muted"><%- p.release.error %></span><% } %></dd>
    <% if (p.rollout && p.rollout.reason) { %><dt>Reason</dt><dd><%- p.rollout.reason %></dd><% } %>
    <% if (p.pending) { %><dt>Scheduled update</dt><dd><%- p.pending.apply_at %> (<%- _.keys(p.pending.changes || {}).join(', ') %>)</dd><% } %>
    <dt>Versions seen</dt><dd><%- _.map(seen, function (n, v) { return v + ' × ' + n; }).join(', ') || '—' %></dd>
    <dt>Updated</dt><dd><%= timeTag(p.updated_at) %> by <%- p.updated_by || '—' %> (revision <%- p.rev %>)</dd>
  </dl>
  <p class="actions"><a class="button secondary" href="#project/<%- encodeURIComponent(p.id) %>/edit">Edit settings</a></p>`);

const ROLLOUT = _.template(`
  <h2 id="rollout-title">Rollout <% if (r) { %><%- r.version %><% if (r.previous_version) { %>
    <span class="muted">(from <%- r.previous_version %>)</span><% } %> <%= badge(r.state) %><% } %></h2>
  <% if (!r) { %><p class="muted">No rollout yet.</p><% } else { %>
  <div class="wave overall"><strong>Overall</strong><%= bar(overall, 'Overall rollout progress') %>
    <span class="progress-label"><%- text(overall) %></span></div>
  <div class="waves">
  <% _.each(r.waves, function (w) { var t = tally(w.counts); %>
    <div class="wave" data-wave="<%- w.wave %>"><span>Wave <%- w.wave %>
      <% if (!w.released) { %><span class="muted">(held)</span><% } %></span>
      <%= bar(t, 'Progress of wave ' + w.wave) %><span class="progress-label"><%- text(t) %></span></div>
  <% }); %>
  </div>
  <% if (r.lost.length || r.silent.length || r.blocked.length) { %>
  <ul class="muted">
    <% if (r.lost.length) { %><li>Lost (took a deploy, never reported): <%- r.lost.join(', ') %></li><% } %>
    <% if (r.silent.length) { %><li>Silent (stopped polling): <%- r.silent.join(', ') %></li><% } %>
    <% _.each(r.blocked, function (b) { %><li>Blocked: <%- b.host %> — <%- b.reason %></li><% }); %>
  </ul><% } %>
  <% } %>`);

const HOST_ROW = _.template(`
  <th scope="row"><%- h.host %></th>
  <td><%- h.target_version || '—' %></td>
  <td><%- h.running_version || '—' %></td>
  <td><%= badge(h.status) %><% if (h.drift) { %> <%= badge(DRIFT) %><% } %><% if (h.silent) { %> <%= badge(SILENT) %><% } %>
    <% if (h.blocked_reason) { %><div class="muted"><%- h.blocked_reason %></div><% } %></td>
  <td class="opt"><%- h.wave === null || h.wave === undefined ? '—' : h.wave %></td>
  <td><% if (h.last_phase) { %><%- h.last_phase %> <%= reportBadge(h.last_status) %><br><% } %>
    <%= timeTag(h.reported_at) %></td>
  <td><button type="button" class="secondary show-report" <%= h.deploy_id ? '' : 'disabled' %>
    aria-label="Output of <%- h.host %>">Output</button></td>`);

const REPORT = _.template(`
  <p><strong><%- r.host %></strong> — <%- r.deploy_kind %> of <%- r.target_version || '—' %>
    (running <%- r.running_version || '—' %>), <%= badge(r.status) %></p>
  <% if (!r.reports.length) { %><p class="muted">No report from this deploy yet.</p><% } %>
  <% _.each(r.reports, function (rep) { %>
    <h3><%- rep.phase %> <%= reportBadge(rep.status) %>
      <span class="muted">exit <%- rep.exit_code %>, <%= timeTag(rep.received_at) %></span></h3>
    <pre class="output" tabindex="0" aria-label="<%- rep.phase %> output"><%- rep.output || '(no output)' %><% if (rep.truncated) { %>
… (truncated)<% } %></pre>
  <% }); %>`);

const EVENT = _.template(`
  <time datetime="<%- e.at %>" title="<%- e.at %>"><%- (e.at || '').replace('T', ' ').slice(0, 19) %></time>
  <div><span class="kind"><%- e.kind %></span><% if (e.host) { %> · <%- e.host %><% } %>
    <div><%- e.message || '' %></div><div class="muted"><%- e.actor || '' %></div></div>`);

// One host's row; redrawn only when that host's data changed.
const HostRowView = Backbone.View.extend({
  tagName: 'tr',
  events: { 'click .show-report': 'select' },

  initialize() {
    this.listenTo(this.model, 'change', this.render);
  },

  render() {
    const h = this.model.toJSON();
    this.$el.removeClass(ROW_FLAGS.join(' ')).addClass(this.model.flag());
    this.$el.attr({ 'data-host': h.host, 'data-renders': (Number(this.$el.attr('data-renders')) || 0) + 1 });
    this.$el.html(HOST_ROW({ h, badge, reportBadge, timeTag, DRIFT, SILENT }));
    return this;
  },

  // Show this host's report below the table.
  select() {
    this.model.collection.trigger('select', this.model);
  },
});

// The selected host's phase reports and their output.
const HostReportView = Base.extend({
  show(host, projectId) {
    this.stopListening();
    this.host = host;
    this.report = new HostReport({ project: projectId, host: host.id });
    this.listenTo(host, 'change:reported_at change:status change:deploy_id', this.load);
    this.$el.closest('section').find('h2').text(`Host report: ${host.id}`);
    return this.load().then(() => this.$el.closest('section').trigger('focus'));
  },

  async load() {
    try {
      await this.report.fetch();
      this.$el.removeClass('muted').html(REPORT({ r: this.report.toJSON(), badge, reportBadge, timeTag }));
    } catch (error) {
      this.$el.html($('<div class="alert info"></div>').text(describeLoadError(error, 'No report')));
    }
  },
});

export const ProjectView = Base.extend({
  initialize({ projectId }) {
    this.model = new Project({ id: projectId });
    this.hosts = new Hosts();
    this.timeline = new Events([], { projectId });
    this.rows = {};
    this.listenTo(this.model, 'change:hosts_view', this.syncHosts);
    this.listenTo(this.model, 'change:rollout change:hosts', this.renderRollout);
    this.listenTo(this.model, 'change', this.renderHeader);
    this.listenTo(this.hosts, 'add', this.addHost);
    this.listenTo(this.hosts, 'remove', this.removeHost);
    this.listenTo(this.hosts, 'update', this.orderHosts);
    this.listenTo(this.hosts, 'select', this.showReport);
    this.listenTo(this.timeline, 'add', this.addEvent);
  },

  // Draw the frame once; the poll fills it in.
  render() {
    this.$el.html(PAGE());
    this.controls = new ControlsView({ model: this.model });
    this.listenTo(this.controls, 'changed', this.refresh);
    this.reportView = new HostReportView({ el: this.$('.report-body') });
    this.subviews = [this.controls, this.reportView];
    poll(this, () => this.refresh(), (error) => this.showError(error));
    return this;
  },

  // Refetch the project and its timeline.
  async refresh() {
    await this.model.fetch();
    this.$('.load-error').prop('hidden', true);
    if (!this.controls.el.parentNode) this.$('.controls-slot').append(this.controls.render().el);
    await this.refreshEvents();
  },

  async refreshEvents() {
    try {
      await this.timeline.fetch();
      this.$('.timeline-error').prop('hidden', true);
    } catch (error) {
      this.$('.timeline-error').text(describeLoadError(error, 'The timeline is not available'))
        .prop('hidden', false);
    }
  },

  showError(error) {
    this.$('.load-error').text(describeLoadError(error, `Could not load ${this.model.id}`))
      .prop('hidden', false);
  },

  renderHeader() {
    const changed = this.model.changedAttributes() || {};
    if (this.$('.header').children().length && !_.some(['version', 'release', 'rollout', 'rev',
      'pending', 'hosts_view', 'updated_at'], (k) => k in changed)) return;
    const seen = (this.model.get('hosts_view') || {}).versions_seen || {};
    this.$('.header').html(HEADER({ p: this.model.toJSON(), state: this.model.rolloutState(),
      seen, badge, timeTag }));
  },

  renderRollout() {
    const r = this.model.get('rollout');
    this.$('.rollout').html(ROLLOUT({ r, overall: this.model.overall(), tally, bar: progressBar,
      text: progressText, badge }));
  },

  // Merge the per-host rows into the collection: only changed hosts fire 'change'.
  syncHosts() {
    const view = this.model.get('hosts_view') || { hosts: [] };
    this.hosts.set(view.hosts);
    const flagged = this.hosts.flagged().length;
    this.$('.hosts-summary').text(`${view.hosts.length} hosts; ${view.drift || 0} drifted, ` +
      `${view.silent || 0} silent${flagged ? `; ${flagged} need a look (highlighted)` : ''}.`);
  },

  addHost(host) {
    this.rows[host.cid] = new HostRowView({ model: host }).render();
  },

  removeHost(host) {
    this.rows[host.cid].remove();
    delete this.rows[host.cid];
  },

  orderHosts() {
    const body = this.$('tbody');
    this.hosts.each((host) => body.append(this.rows[host.cid].el));
  },

  showReport(host) {
    this.$('tr.selected').removeClass('selected');
    this.rows[host.cid].$el.addClass('selected');
    this.reportView.show(host, this.model.id);
  },

  // New events go in at their place in time (newest first).
  addEvent(event) {
    const item = $('<li></li>').html(EVENT({ e: event.toJSON() }));
    const index = this.timeline.indexOf(event);
    const list = this.$('.timeline');
    if (index <= 0 || list.children().length === 0) list.prepend(item);
    else item.insertAfter(list.children().eq(Math.min(index, list.children().length) - 1));
  },

  remove() {
    _.invoke(Object.values(this.rows), 'remove');
    return Base.prototype.remove.call(this);
  },
});
