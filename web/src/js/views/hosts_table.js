// The project's host table: sortable by every column, filtered by status, wave, zone and name,
// one page of PAGE_SIZE rows at a time (a fleet of thousands stays fast), its state in the URL
// hash. Each row shows the host's zone, how it belongs (listed, or found in the fleet), its
// traffic draining and when it joined or left; hosts that left the fleet are greyed and apart
// (only under the status filter "Left the fleet"). Only the rows of the current page exist in
// the DOM; a refresh redraws only the rows whose host changed, and moves rows whose place changed.
// A fleet larger than the project view returns (`hosts_view.truncated`) is paged from the server:
// the filters and pages become queries of GET /api/v1/project/{id}/hosts (`remote`).
import { COLUMNS, facets, PAGE_SIZE, query, readQuery, routeQuery, writeQuery } from '../host_query.js';
import { html } from '../html.js';
import { humanize, labelOf } from '../labels.js';
import { DrainState, DRIFT, HOST_ROW_STATUSES, HostStatus, ROW_FLAGS, SILENT } from '../status.js';
import { apiRequest } from '../sync.js';
import { Base, badge, countdownTag, describeLoadError, reportBadge, timeTag } from './ui.js';

const HEADINGS = { host: 'Host', target_version: 'Target', running_version: 'Running',
  status: 'Status', wave: 'Wave', reported_at: 'Last report', zone: 'Zone', member: 'Member' };
const DAY_MS = 24 * 3600 * 1000;

const FRAME = html`
  <div class="table-tools" role="search" aria-label="Filter hosts">
    <div class="tool"><label for="filter-status">Status</label>
      <select id="filter-status" class="filter-status"></select></div>
    <div class="tool"><label for="filter-wave">Wave</label>
      <select id="filter-wave" class="filter-wave"></select></div>
    <div class="tool"><label for="filter-zone">Zone</label>
      <select id="filter-zone" class="filter-zone"></select></div>
    <div class="tool"><label for="filter-host">Host name</label>
      <input id="filter-host" class="filter-host" type="search" spellcheck="false"
        autocapitalize="off" placeholder="contains…"></div>
    <button type="button" class="secondary clear-filters">Clear filters</button>
  </div>
  <p class="table-count muted" role="status" aria-live="polite"></p>
  <p class="table-error alert info" role="status" hidden></p>
  <div class="table-wrap">
    <table class="hosts">
      <thead><tr>${COLUMNS.map((c) => html`<th scope="col" class="${c === 'wave' ? 'opt' : ''}"
        data-column="${c}"><button type="button" class="sort" data-sort="${c}">${HEADINGS[c]}<span
        class="arrow" aria-hidden="true"></span></button></th>`)}
        <th scope="col"><span class="visually-hidden">Output</span></th></tr></thead>
      <tbody></tbody>
    </table>
  </div>
  <p class="table-empty muted" hidden>No host matches these filters.</p>
  <nav class="pager" aria-label="Host pages">
    <button type="button" class="secondary page-prev">Previous page</button>
    <span class="page-of"></span>
    <button type="button" class="secondary page-next">Next page</button>
  </nav>`;

// Where the host stands with its target groups (drain.state), under its status: "Draining ·
// 4:59 left (1 target group)", "Out of its target groups · 3 min ago", "Registered again · …".
function drainHtml(drain) {
  if (!drain || !drain.state) return '';
  const groups = (drain.target_groups || []).length;
  let when = '';
  if (drain.state === DrainState.DRAINING && drain.until) when = html` · ${countdownTag(drain.until, 'drain time over')}`;
  else if (drain.since) when = html` · ${timeTag(drain.since)}`;
  return html`<div class="drain" data-drain="${drain.state}">${labelOf('DrainState', drain.state)}${when}${groups
    ? ` (${groups} target group${groups > 1 ? 's' : ''})` : ''}</div>`;
}

// When a member joined (within the last day) or left the fleet, under its status.
function membershipHtml(h) {
  if (h.status === HostStatus.LEFT && h.left_at) return html`<div class="membership muted">Left ${timeTag(h.left_at)}</div>`;
  const joined = Date.parse(h.joined_at || '');
  if (h.member === 'fleet' && Date.now() - joined < DAY_MS) {
    return html`<div class="membership muted">Joined ${timeTag(h.joined_at)}</div>`;
  }
  return '';
}

function rowHtml(h) {
  return html`
  <th scope="row">${h.host}</th>
  <td>${h.target_version || '—'}</td>
  <td>${h.running_version || '—'}</td>
  <td>${badge('HostStatus', h.status)}${h.drift ? html` ${badge('Flag', DRIFT)}` : ''}${h.silent
    ? html` ${badge('Flag', SILENT)}` : ''}${h.blocked_reason
    ? html`<div class="muted">${humanize(h.blocked_reason)}</div>` : ''}${drainHtml(h.drain)}${
    membershipHtml(h)}</td>
  <td class="opt">${h.wave === null || h.wave === undefined ? '—' : h.wave}</td>
  <td>${h.last_phase ? html`${labelOf('Phase', h.last_phase)} ${reportBadge(h.last_status)}<br>` : ''}${
    timeTag(h.reported_at)}</td>
  <td class="zone">${h.zone || '—'}</td>
  <td class="member" data-member="${h.member || ''}">${h.member ? labelOf('Member', h.member) : '—'}</td>
  <td><button type="button" class="secondary show-report" ${h.deploy_id ? '' : 'disabled'}
    aria-label="Output of ${h.host}">Output</button></td>`;
}

// One host's row; redrawn only when that host's data changed.
const HostRowView = Backbone.View.extend({
  tagName: 'tr',
  events: { 'click .show-report': 'select' },

  initialize() {
    this.listenTo(this.model, 'change', this.render);
  },

  render() {
    const h = this.model.toJSON();
    this.$el.removeClass(ROW_FLAGS.join(' ')).addClass(this.model.flag())
      .toggleClass('gone', h.status === HostStatus.LEFT);
    this.$el.attr({ 'data-host': h.host, 'data-renders': (Number(this.$el.attr('data-renders')) || 0) + 1 });
    this.$el.html(String(rowHtml(h)));
    return this;
  },

  // Show this host's report below the table.
  select() {
    this.model.collection.trigger('select', this.model);
  },
});

export const HostsTableView = Base.extend({
  className: 'hosts-table',
  events: {
    'click button.sort': 'sortBy',
    'change .filter-status': 'filterStatus',
    'change .filter-wave': 'filterWave',
    'change .filter-zone': 'filterZone',
    'input .filter-host': 'filterName',
    'click .clear-filters': 'clearFilters',
    'click .page-prev': 'previousPage',
    'click .page-next': 'nextPage',
  },

  initialize({ projectId, queryString }) {
    this.projectId = projectId;
    this.state = readQuery(queryString);
    this.rows = {};
    this.shown = [];
    this.listenTo(this.collection, 'update reset change', this.schedule);
  },

  render() {
    this.$el.html(String(FRAME));
    this.$('.filter-host').val(this.state.q);
    this.draw();
    return this;
  },

  // Redraw once after a burst of changes (a refresh merges many hosts synchronously).
  schedule() {
    if (this.pending) return;
    this.pending = true;
    Promise.resolve().then(() => { this.pending = false; this.draw(); });
  },

  draw() {
    const all = this.collection.map((host) => host.attributes);
    if (this.remote) return this.drawRemote(all);
    const result = query(all, this.state);
    this.state.page = result.page;
    const counts = facets(all);
    const left = counts.statuses[HostStatus.LEFT] || 0;
    const present = all.length - left;
    this.drawFilters(counts, present);
    this.drawRows(result);
    this.$('.table-empty').prop('hidden', result.total > 0 || all.length === 0);
    const filtered = result.total !== present;
    const gone = left && !this.state.status ? ` · ${left} left the fleet (status filter “${labelOf('HostStatus', HostStatus.LEFT)}”)` : '';
    this.$('.table-count').text(result.total
      ? `Hosts ${result.first}–${result.last} of ${result.total}${filtered ? ` (filtered from ${present})` : ''}${gone}`
      : `0 of ${present} hosts${gone}`);
    this.$('.page-of').text(`Page ${result.page} of ${result.pages}`);
    this.$('.page-prev').prop('disabled', result.page <= 1);
    this.$('.page-next').prop('disabled', result.page >= result.pages);
    this.$('.pager').prop('hidden', result.pages <= 1);
    this.drawClear();
    this.trigger('drawn', result);
    return result;
  },

  // The rows of `result` in the table body: existing row views are kept and moved.
  drawRows(result) {
    this.drawHeadings();
    const wanted = result.rows.map((row) => this.collection.get(row.host));
    for (const [cid, view] of Object.entries(this.rows)) {
      if (!wanted.some((host) => host.cid === cid)) { view.remove(); delete this.rows[cid]; }
    }
    const body = this.$('tbody')[0];
    wanted.forEach((host, index) => {
      const view = this.rows[host.cid] || (this.rows[host.cid] = new HostRowView({ model: host }).render());
      if (body.children[index] !== view.el) body.insertBefore(view.el, body.children[index] || null);
    });
    this.shown = wanted;
  },

  drawClear() {
    this.$('.clear-filters').prop('disabled', !this.state.status && this.state.wave === '' &&
      !this.state.zone && !this.state.q);
  },

  // --- a fleet larger than the project view: pages of GET /api/v1/project/{id}/hosts ---------

  // Called with every refresh of the project view: paged from the server while the view is
  // truncated (the current page is fetched again), from the view's rows otherwise.
  setRemote(hostsView, waveCount) {
    const truncated = Boolean(hostsView && hostsView.truncated);
    if (!truncated) {
      if (this.remote) { this.remote = null; this.state.page = 1; }
      return false;
    }
    const first = !this.remote;
    this.remote = { ...(this.remote || { cursors: [null], next: null }), view: hostsView, waveCount };
    if (first) this.state.page = 1;
    this.fetchPage();
    return true;
  },

  // Fetch the page the state asks for (page n is reached through the cursors of pages 1..n-1).
  async fetchPage() {
    const remote = this.remote;
    const token = (this.fetching = (this.fetching || 0) + 1);
    const cursor = remote.cursors[this.state.page - 1] || null;
    try {
      const page = await apiRequest('GET', `/api/v1/project/${encodeURIComponent(this.projectId)}/hosts?${
        routeQuery(this.state, cursor)}`);
      if (token !== this.fetching || this.remote !== remote) return;  // a newer request won
      remote.next = page.next_cursor;
      remote.cursors[this.state.page] = page.next_cursor;
      this.$('.table-error').prop('hidden', true);
      this.collection.set(page.hosts);
      this.draw();
    } catch (error) {
      if (token !== this.fetching) return;
      this.$('.table-error').text(describeLoadError(error, 'Hosts could not be listed'))
        .prop('hidden', false);
    }
  },

  drawRemote(all) {
    const { view, next, waveCount } = this.remote;
    const result = query(all, { ...this.state, wave: '', zone: '', q: '', page: 1 });
    const counts = view.counts || {};
    const statuses = { ...(counts.status || {}), [HostStatus.LEFT]: view.left || 0 };
    delete statuses.unknown;  // listed hosts not planned yet have no item to page through
    const waves = {};
    for (let w = 0; w < (waveCount || 0); w += 1) waves[w] = null;
    const zones = { ...(counts.zone || {}) };
    delete zones[''];
    this.drawFilters({ statuses, waves, zones }, view.total);
    this.drawRows(result);
    const offset = (this.state.page - 1) * PAGE_SIZE;
    this.$('.table-empty').prop('hidden', result.total > 0);
    this.$('.table-count').text(`${result.total ? `Hosts ${offset + 1}–${offset + result.total}` : 'No host'}` +
      ` on page ${this.state.page} of the ${view.total} hosts (listed from the server, ${PAGE_SIZE} a page;` +
      ` sorting applies to this page)`);
    this.$('.page-of').text(`Page ${this.state.page}${next ? '' : ' (the last)'}`);
    this.$('.page-prev').prop('disabled', this.state.page <= 1);
    this.$('.page-next').prop('disabled', !next);
    this.$('.pager').prop('hidden', this.state.page <= 1 && !next);
    this.drawClear();
    this.trigger('drawn', result);
    return result;
  },

  // The filter menus with a count per status and per wave; options are updated in place, so a
  // menu being used is never replaced under the pointer.
  drawFilters({ statuses, waves, zones }, total) {
    const statusOptions = [['', `All statuses (${total})`], ...HOST_ROW_STATUSES
      .filter((s) => statuses[s] || s === this.state.status)
      .map((s) => [s, `${labelOf('HostStatus', s)} (${statuses[s] || 0})`])];
    const waveKeys = Object.keys(waves).map(Number).sort((a, b) => a - b).map(String);
    if (this.state.wave !== '' && !waveKeys.includes(this.state.wave)) waveKeys.push(this.state.wave);
    const counted = (n) => (n === null || n === undefined ? '' : ` (${n})`);
    const waveOptions = [['', 'All waves'], ...waveKeys.map((w) => [w, `Wave ${w}${counted(waves[w] || 0)}`])];
    const zoneKeys = Object.keys(zones || {}).sort();
    if (this.state.zone && !zoneKeys.includes(this.state.zone)) zoneKeys.push(this.state.zone);
    const zoneOptions = [['', 'All zones'], ...zoneKeys.map((z) => [z, `${z}${counted(zones[z] || 0)}`])];
    this.fillSelect(this.$('.filter-status')[0], statusOptions, this.state.status);
    this.fillSelect(this.$('.filter-wave')[0], waveOptions, this.state.wave);
    this.fillSelect(this.$('.filter-zone')[0], zoneOptions, this.state.zone);
    this.$('.filter-zone').closest('.tool').prop('hidden', zoneKeys.length === 0);
  },

  fillSelect(select, options, value) {
    const same = select.options.length === options.length &&
      options.every(([v], i) => select.options[i].value === v);
    if (!same) {
      select.replaceChildren(...options.map(([v, text]) => new Option(text, v)));
    } else {
      options.forEach(([, text], i) => {
        if (select.options[i].text !== text) select.options[i].text = text;
      });
    }
    if (select.value !== value) select.value = value;
  },

  drawHeadings() {
    this.$('th[data-column]').each((i, th) => {
      const column = th.dataset.column;
      const active = column === this.state.sort;
      const order = this.state.dir === 'desc' ? 'descending' : 'ascending';
      th.setAttribute('aria-sort', active ? order : 'none');
      $(th).find('.arrow').text(active ? (this.state.dir === 'desc' ? ' ▼' : ' ▲') : '');
      $(th).find('button').attr('title', `Sort by ${HEADINGS[column].toLowerCase()}` +
        (active ? ` (now ${order})` : ''));
    });
  },

  // Apply a change of the table's state: back to page 1 unless paging, redraw, remember it in
  // the URL hash (replacing the entry: filtering is not a page of its own).
  update(changes) {
    this.state = { ...this.state, page: 1, ...changes };
    if (this.remote) {  // drawn when the server's page is in
      if (!('page' in changes)) this.remote.cursors = [null];  // new filters: new cursors
      this.$('.table-count').text(`Loading page ${this.state.page}…`);
      this.fetchPage();
    } else {
      this.draw();
    }
    const qs = writeQuery(this.state);
    Backbone.history.navigate(`project/${encodeURIComponent(this.projectId)}${qs ? `?${qs}` : ''}`,
      { replace: true });
  },

  // The state of a URL typed or pasted while the page was open.
  setQuery(queryString) {
    this.state = readQuery(queryString);
    this.$('.filter-host').val(this.state.q);
    if (this.remote) {
      this.state.page = 1;
      this.remote.cursors = [null];
      this.fetchPage();
    } else {
      this.draw();
    }
  },

  sortBy(event) {
    const column = event.currentTarget.dataset.sort;
    const dir = column === this.state.sort && this.state.dir === 'asc' ? 'desc' : 'asc';
    this.update({ sort: column, dir });
  },

  filterStatus(event) { this.update({ status: event.currentTarget.value }); },

  filterWave(event) { this.update({ wave: event.currentTarget.value }); },

  filterZone(event) { this.update({ zone: event.currentTarget.value }); },

  filterName: _.debounce(function filterName() {
    this.update({ q: this.$('.filter-host').val() || '' });
  }, 200),

  clearFilters() {
    this.$('.filter-host').val('');
    this.update({ status: '', wave: '', zone: '', q: '' });
  },

  previousPage() { this.update({ page: this.state.page - 1 }); },

  nextPage() { this.update({ page: this.state.page + 1 }); },

  // The row of a host on the current page (for highlighting the selected one), if shown.
  rowOf(host) {
    return this.rows[host.cid];
  },

  remove() {
    _.invoke(Object.values(this.rows), 'remove');
    return Base.prototype.remove.call(this);
  },
});

export { PAGE_SIZE };
