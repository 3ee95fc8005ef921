// A project's scheduled update (an update sent with `apply_at`, shown by the API as `pending`):
// when it applies (a countdown), who asked, which fields it changes, and a Cancel button —
// confirmed first, then DELETE /api/v1/project/{id}/scheduled.
import { html } from '../html.js';
import { apiRequest } from '../sync.js';
import { absolute } from '../times.js';
import { actorTag, Base, confirmAction, countdownTag, flash, timeTag } from './ui.js';

// A changed value in a few words (objects as their keys, long text cut).
function preview(value) {
  if (value === null || value === undefined) return 'cleared';
  if (Array.isArray(value)) return `${value.length} item${value.length === 1 ? '' : 's'}`;
  if (typeof value === 'object') return Object.keys(value).join(', ') || '{}';
  const text = String(value);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function card(p) {
  const changes = p.changes || {};
  return html`
    <h2 id="scheduled-title">Scheduled update</h2>
    <p>Applies at <strong><time datetime="${p.apply_at}">${absolute(p.apply_at)}</time></strong>
      (${countdownTag(p.apply_at, 'due: applies on the next tick')})${p.by ? html`, requested by ${actorTag(p.by)}` : ''}${
      p.requested_at ? html` ${timeTag(p.requested_at)}` : ''}.</p>
    <ul class="scheduled-changes">${Object.entries(changes).map(([field, value]) => html`
      <li><code>${field}</code>: ${preview(value)}</li>`)}</ul>
    <div class="actions"><button type="button" class="danger cancel-scheduled">Cancel scheduled update</button></div>
    <div class="scheduled-result" role="alert"></div>`;
}

export const ScheduledView = Base.extend({
  tagName: 'section',
  className: 'card scheduled',
  attributes: { 'aria-labelledby': 'scheduled-title' },
  events: { 'click .cancel-scheduled': 'cancel' },

  initialize() {
    this.listenTo(this.model, 'change:pending', this.render);
  },

  // Shown only while an update waits.
  render() {
    const pending = this.model.get('pending');
    this.$el.prop('hidden', !pending);
    if (!pending) {
      this.$el.empty();
      this.drawn = null;
      return this;
    }
    if (_.isEqual(this.drawn, pending)) return this;
    this.drawn = pending;
    const result = this.$('.scheduled-result').children().detach();   // a refusal stays in view
    this.$el.html(String(card(pending)));
    this.$('.scheduled-result').append(result);
    return this;
  },

  // Confirm, then cancel exactly the update the operator saw: If-Match carries the revision it
  // was drawn from, so one replaced meanwhile is refused (409) instead of cancelled unseen.
  async cancel() {
    const pending = this.model.get('pending') || {};
    const etag = this.model.get('etag');
    const fields = Object.keys(pending.changes || {}).join(', ') || 'no field';
    if (!await confirmAction('Cancel the scheduled update?',
      `The update of ${this.model.id} planned for ${absolute(pending.apply_at)} (${fields}) will not be applied.`,
      'Cancel the update')) return;
    try {
      await apiRequest('DELETE', `/api/v1/project/${encodeURIComponent(this.model.id)}/scheduled`,
        { headers: etag ? { 'If-Match': etag } : {} });
      this.model.set('pending', null);
      flash(`The scheduled update of ${this.model.id} is cancelled.`);
    } catch (error) {
      const hint = error.status === 409
        ? ' The project changed since this page showed it: look at the update shown now before cancelling it.' : '';
      this.$('.scheduled-result').empty().append($('<div class="alert conflict"></div>').text(
        `Could not cancel: ${error.message}${error.status ? ` (HTTP ${error.status})` : ''}.${hint}`));
    }
    this.trigger('changed');
  },
});
