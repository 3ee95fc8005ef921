// The project page: header (what the fleet runs), controls, a scheduled update, the rollout with
// per-wave times and the bake countdown, the host table (sortable, filtered, paged), one host's
// report output, the release history with "roll back to this version", and the event timeline.
// One poll refetches the project and its events; each part redraws only when its own data changed.
import { Events } from '../collections/events.js';
import { Hosts } from '../collections/hosts.js';
import { html } from '../html.js';
import { eventLabel, humanize, labelOf } from '../labels.js';
import { HostReport } from '../models/host_report.js';
import { Project } from '../models/project.js';
import { absolute } from '../times.js';
import { ControlsView } from './controls.js';
import { HeaderView } from './header.js';
import { HostsTableView } from './hosts_table.js';
import { PromotionView } from './promotion.js';
import { ReleasesView } from './releases.js';
import { RolloutView } from './rollout.js';
import { ScheduledView } from './scheduled.js';
import { actorTag, Base, badge, describeLoadError, poll, reportBadge, timeTag } from './ui.js';

const PAGE = html`
  <div class="load-error alert error" role="alert" hidden></div>
  <div class="header-slot"></div>
  <div class="controls-slot"></div>
  <div class="promotion-slot"></div>
  <div class="scheduled-slot"></div>
  <div class="rollout-slot"></div>
  <section class="card" aria-labelledby="hosts-title">
    <h2 id="hosts-title">Hosts</h2>
    <p class="hosts-summary muted"></p>
    <div class="hosts-slot"></div>
  </section>
  <section class="card host-report" aria-labelledby="report-title" tabindex="-1">
    <h2 id="report-title">Host report</h2>
    <div class="report-body muted">Choose “Output” on a host to see its last deploy's report.</div>
  </section>
  <div class="releases-slot"></div>
  <section class="card" aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline</h2>
    <div class="timeline-error alert info" role="status" hidden></div>
    <ol class="timeline" reversed></ol>
  </section>`;

function reportHtml(r) {
  return html`
  <p><strong>${r.host}</strong> — ${labelOf('DeployKind', r.deploy_kind)} of ${r.target_version || '—'}
    (running ${r.running_version || '—'}), ${badge('HostStatus', r.status)}</p>
  ${(r.reports || []).length ? '' : html`<p class="muted">No report from this deploy yet.</p>`}
  ${(r.reports || []).map((rep) => html`
    <h3>${labelOf('Phase', rep.phase)} ${reportBadge(rep.status)}
      <span class="muted">exit ${rep.exit_code}, ${timeTag(rep.received_at)}</span></h3>
    <pre class="output" tabindex="0" aria-label="${rep.phase} output">${rep.output || '(no output)'}${
      rep.truncated ? '\n… (truncated)' : ''}</pre>`)}`;
}

function eventHtml(e) {
  return html`
  <div class="when"><time datetime="${e.at}" title="${absolute(e.at)}">${(e.at || '').replace('T', ' ').slice(0, 19)}</time>
    ${timeTag(e.at)}</div>
  <div><span class="kind" data-kind="${e.kind}" title="${e.kind}">${eventLabel(e.kind)}</span>${e.host ? ` · ${e.host}` : ''}
    <div>${humanize(e.message)}</div><div class="muted">${e.actor ? actorTag(e.actor) : ''}</div></div>`;
}

// One line about the project's hosts: how many (listed, in the fleet, per zone), drift and
// silence, who joined or left in the last day, and whether the table pages from the server.
export function hostsSummary(view, flagged) {
  const total = view.total ?? (view.hosts || []).length;
  const counts = view.counts || {};
  const members = counts.member || {};
  const zones = Object.entries(counts.zone || {}).filter(([zone]) => zone).sort();
  const parts = [`${total} hosts${members.fleet ? ` (${members.listed || 0} listed, ${members.fleet} in the fleet)` : ''}`];
  if (zones.length) parts.push(`zones: ${zones.map(([zone, n]) => `${zone} ${n}`).join(', ')}`);
  parts.push(`${view.drift || 0} drifted, ${view.silent || 0} silent`);
  if (flagged) parts.push(`${flagged} need a look (highlighted)`);
  const day = view.last_day || {};
  if (day.joined || day.left) parts.push(`${day.joined || 0} joined and ${day.left || 0} left the fleet in the last day`);
  const text = `${parts.join('; ')}.`;
  return view.truncated ? `${text} The project view holds the first ${view.shown}: the table pages through ` +
    'all of them from the server.' : text;
}

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
      this.$el.removeClass('muted').html(String(reportHtml(this.report.toJSON())));
    } catch (error) {
      this.$el.html($('<div class="alert info"></div>').text(describeLoadError(error, 'No report')));
    }
  },
});

export const ProjectView = Base.extend({
  initialize({ projectId, queryString }) {
    this.model = new Project({ id: projectId });
    this.hosts = new Hosts();
    this.timeline = new Events([], { projectId });
    this.queryString = queryString;
    this.listenTo(this.model, 'change:hosts_view', this.syncHosts);
    this.listenTo(this.hosts, 'select', this.showReport);
    this.listenTo(this.timeline, 'add', this.addEvent);
  },

  // Draw the frame once; the poll fills it in.
  render() {
    this.$el.html(String(PAGE));
    this.header = new HeaderView({ model: this.model });
    this.controls = new ControlsView({ model: this.model });
    this.promotion = new PromotionView({ model: this.model });
    this.scheduled = new ScheduledView({ model: this.model });
    this.rollout = new RolloutView({ model: this.model });
    this.table = new HostsTableView({ collection: this.hosts, projectId: this.model.id,
      queryString: this.queryString });
    this.releases = new ReleasesView({ model: this.model });
    this.reportView = new HostReportView({ el: this.$('.report-body') });
    this.subviews = [this.header, this.controls, this.promotion, this.scheduled, this.rollout,
      this.table, this.releases, this.reportView];
    for (const view of [this.controls, this.promotion, this.scheduled, this.releases]) {
      this.listenTo(view, 'changed', this.refresh);
    }
    this.$('.hosts-slot').append(this.table.render().el);
    poll(this, () => this.refresh(), (error) => this.showError(error));
    return this;
  },

  // Refetch the project and its timeline; the parts appear with the first answer.
  async refresh() {
    await this.model.fetch();
    this.$('.load-error').prop('hidden', true);
    if (!this.header.el.parentNode) {
      this.$('.header-slot').append(this.header.render().el);
      this.$('.controls-slot').append(this.controls.render().el);
      this.$('.promotion-slot').append(this.promotion.render().el);
      this.$('.scheduled-slot').append(this.scheduled.render().el);
      this.$('.rollout-slot').append(this.rollout.render().el);
      this.$('.releases-slot').append(this.releases.render().el);
    }
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

  // Merge the per-host rows into the collection: only changed hosts fire 'change'. A fleet larger
  // than the view returns is paged from the server by the table instead.
  syncHosts() {
    const view = this.model.get('hosts_view') || { hosts: [] };
    const waves = ((this.model.get('rollout') || {}).waves || []).length;
    const remote = this.table.setRemote(view, waves);
    if (!remote) this.hosts.set(view.hosts);
    this.$('.hosts-summary').text(hostsSummary(view, remote ? 0 : this.hosts.flagged().length));
  },

  showReport(host) {
    this.$('tr.selected').removeClass('selected');
    const row = this.table.rowOf(host);
    if (row) row.$el.addClass('selected');
    this.reportView.show(host, this.model.id);
  },

  // New events go in at their place in time (newest first).
  addEvent(event) {
    const item = $('<li></li>').html(String(eventHtml(event.toJSON())));
    const index = this.timeline.indexOf(event);
    const list = this.$('.timeline');
    if (index <= 0 || list.children().length === 0) list.prepend(item);
    else item.insertAfter(list.children().eq(Math.min(index, list.children().length) - 1));
  },
});
