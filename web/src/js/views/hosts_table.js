// The project's host table: sortable by every column, filtered by status, wave and name, one
// page of PAGE_SIZE rows at a time (a fleet of thousands stays fast), its state in the URL hash.
// Only the rows of the current page exist in the DOM; a refresh redraws only the rows whose host
// changed, and moves (never redraws) rows whose place changed.
import { COLUMNS, facets, PAGE_SIZE, query, readQuery, writeQuery } from '../host_query.js';
import { html } from '../html.js';
import { humanize, labelOf } from '../labels.js';
import { DRIFT, HOST_ROW_STATUSES, ROW_FLAGS, SILENT } from '../status.js';
import { Base, badge, reportBadge, timeTag } from './ui.js';

const HEADINGS = { host: 'Host', target_version: 'Target', running_version: 'Running',
  status: 'Status', wave: 'Wave', reported_at: 'Last report' };

const FRAME = html`
  <div class="table-tools" role="search" aria-label="Filter hosts">
    <div class="tool"><label for="filter-status">Status</label>
      <select id="filter-status" class="filter-status"></select></div>
    <div class="tool"><label for="filter-wave">Wave</label>
      <select id="filter-wave" class="filter-wave"></select></div>
    <div class="tool"><label for="filter-host">Host name</label>
      <input id="filter-host" class="filter-host" type="search" spellcheck="false"
        autocapitalize="off" placeholder="contains…"></div>
    <button type="button" class="secondary clear-filters">Clear filters</button>
  </div>
  <p class="table-count muted" role="status" aria-live="polite"></p>
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

function rowHtml(h) {
  return html`
  <th scope="row">${h.host}</th>
  <td>${h.target_version || '—'}</td>
  <td>${h.running_version || '—'}</td>
  <td>${badge('HostStatus', h.status)}${h.drift ? html` ${badge('Flag', DRIFT)}` : ''}${h.silent
    ? html` ${badge('Flag', SILENT)}` : ''}${h.blocked_reason
    ? html`<div class="muted">${humanize(h.blocked_reason)}</div>` : ''}</td>
  <td class="opt">${h.wave === null || h.wave === undefined ? '—' : h.wave}</td>
  <td>${h.last_phase ? html`${labelOf('Phase', h.last_phase)} ${reportBadge(h.last_status)}<br>` : ''}${
    timeTag(h.reported_at)}</td>
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
    this.$el.removeClass(ROW_FLAGS.join(' ')).addClass(this.model.flag());
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
    const result = query(all, this.state);
    this.state.page = result.page;
    this.drawFilters(facets(all), all.length);
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
    this.$('.table-empty').prop('hidden', result.total > 0 || all.length === 0);
    const filtered = result.total !== all.length;
    this.$('.table-count').text(result.total
      ? `Hosts ${result.first}–${result.last} of ${result.total}${filtered ? ` (filtered from ${all.length})` : ''}`
      : `0 of ${all.length} hosts`);
    this.$('.page-of').text(`Page ${result.page} of ${result.pages}`);
    this.$('.page-prev').prop('disabled', result.page <= 1);
    this.$('.page-next').prop('disabled', result.page >= result.pages);
    this.$('.pager').prop('hidden', result.pages <= 1);
    this.$('.clear-filters').prop('disabled', !this.state.status && this.state.wave === '' && !this.state.q);
    this.trigger('drawn', result);
  },

  // The filter menus with a count per status and per wave; options are updated in place, so a
  // menu being used is never replaced under the pointer.
  drawFilters({ statuses, waves }, total) {
    const statusOptions = [['', `All statuses (${total})`], ...HOST_ROW_STATUSES
      .filter((s) => statuses[s] || s === this.state.status)
      .map((s) => [s, `${labelOf('HostStatus', s)} (${statuses[s] || 0})`])];
    const waveKeys = Object.keys(waves).map(Number).sort((a, b) => a - b).map(String);
    if (this.state.wave !== '' && !waveKeys.includes(this.state.wave)) waveKeys.push(this.state.wave);
    const waveOptions = [['', 'All waves'], ...waveKeys.map((w) => [w, `Wave ${w} (${waves[w] || 0})`])];
    this.fillSelect(this.$('.filter-status')[0], statusOptions, this.state.status);
    this.fillSelect(this.$('.filter-wave')[0], waveOptions, this.state.wave);
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
    this.draw();
    const qs = writeQuery(this.state);
    Backbone.history.navigate(`project/${encodeURIComponent(this.projectId)}${qs ? `?${qs}` : ''}`,
      { replace: true });
  },

  // The state of a URL typed or pasted while the page was open.
  setQuery(queryString) {
    this.state = readQuery(queryString);
    this.$('.filter-host').val(this.state.q);
    this.draw();
  },

  sortBy(event) {
    const column = event.currentTarget.dataset.sort;
    const dir = column === this.state.sort && this.state.dir === 'asc' ? 'desc' : 'asc';
    this.update({ sort: column, dir });
  },

  filterStatus(event) { this.update({ status: event.currentTarget.value }); },

  filterWave(event) { this.update({ wave: event.currentTarget.value }); },

  filterName: _.debounce(function filterName() {
    this.update({ q: this.$('.filter-host').val() || '' });
  }, 200),

  clearFilters() {
    this.$('.filter-host').val('');
    this.update({ status: '', wave: '', q: '' });
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
