// The stage's freeze, under the top bar on every page: while one is in force (GET /api/v1/freeze)
// a banner says so — reason, who froze it, since when and until when (local time and UTC) — with
// a Thaw control; when none is, a "Freeze the stage…" button opening a form (reason, optional
// end). Both controls ask for a confirmation first. Read every refresh interval (at least every
// 10 s) while someone is signed in; a key that may not read it (not an admin: 403) shows nothing.
import { config } from '../config.js';
import { html } from '../html.js';
import { credentials } from '../session.js';
import { apiRequest } from '../sync.js';
import { actorTag, confirmAction, flash, timeTag } from './ui.js';
import { bothTimes } from './watching.js';

const PATH = '/api/v1/freeze';
const EVERY_MS = Math.max(config.refreshMs, 10000);

function banner(f) {
  return html`<p class="freeze-text" role="status"><strong>Deploys are frozen</strong> on this stage:
    ${f.reason} — by ${actorTag(f.by)} ${timeTag(f.since)},
    ${f.until ? `until ${bothTimes(f.until)}` : 'until someone thaws it'}.
    No rollout starts a wave; rollbacks go on. A hotfix: Promote with an override.</p>
    <button type="button" class="thaw secondary">Thaw</button>`;
}

// Not frozen: a button that opens the form (so no hidden form or input sits on every page).
function opener() {
  return html`<button type="button" class="open-freeze secondary">Freeze the stage…</button>`;
}

function form() {
  return html`<form class="freeze-form" aria-label="Freeze the stage">
      <label>Reason <input name="reason" required maxlength="500" size="40"></label>
      <label>Until (local time, optional) <input name="until" type="datetime-local"></label>
      <button type="submit">Freeze</button>
      <button type="button" class="close-freeze secondary">Cancel</button>
    </form>`;
}

export const FreezeView = Backbone.View.extend({
  events: {
    'click .thaw': 'thaw',
    'click .open-freeze': 'openForm',
    'click .close-freeze': 'closeForm',
    'submit form': 'freeze',
  },

  initialize() {
    this.state = null;
    this.drawn = false;
    this.timer = null;
    this.listenTo(Backbone, 'session', this.load);
    this.listenTo(Backbone, 'freeze', this.load);
  },

  // Read the freeze now and then every EVERY_MS (only while signed in).
  async load() {
    clearTimeout(this.timer);
    if (!credentials()) {
      this.show(null);
      return;
    }
    try {
      this.show(await apiRequest('GET', PATH));
    } catch (error) {
      this.show(null);  // not an admin, or the API is away: the pages say so themselves
    }
    this.timer = setTimeout(() => this.load(), EVERY_MS);
  },

  // Draw the banner (frozen), the freeze form (an admin, not frozen) or nothing; a read that
  // changed nothing draws nothing (a half-typed reason stays).
  show(state) {
    const key = (v) => JSON.stringify(v && { ...v, history: undefined });
    if (this.drawn && key(state) === key(this.state)) return;
    this.state = state;
    this.drawn = true;
    const frozen = Boolean(state && state.frozen);
    this.el.hidden = !state;
    this.el.classList.toggle('freeze-banner', frozen);
    if (!state) this.$el.html('');
    else if (frozen) this.$el.html(String(banner(state)));
    else if (!this.$el.find('form').length) this.$el.html(String(opener()));
  },

  openForm() {
    this.$el.html(String(form()));
    this.$el.find('input[name=reason]').trigger('focus');
  },

  closeForm() {
    this.$el.html(String(opener()));
  },

  async thaw() {
    const f = this.state || {};
    if (!await confirmAction('Thaw the stage?', `End the freeze "${f.reason}": held rollouts `
      + 'start their waves on the next tick.', 'Thaw')) return;
    try {
      await apiRequest('DELETE', PATH);
      flash('The stage is thawed.');
    } catch (error) {
      flash(`Thaw failed: ${error.message}`, 'error');
    }
    this.drawn = false;
    this.load();
  },

  async freeze(event) {
    event.preventDefault();
    const data = new FormData(event.target);
    const reason = String(data.get('reason') || '').trim();
    const local = String(data.get('until') || '');
    const body = { reason };
    if (local) body.until = new Date(local).toISOString().replace(/\.\d+Z$/, 'Z');
    if (!await confirmAction('Freeze the stage?', `No rollout of any project will start a wave `
      + `until ${local ? bothTimes(body.until) : 'someone thaws it'}. Reason: ${reason}`, 'Freeze')) return;
    try {
      await apiRequest('POST', PATH, { body });
      flash('The stage is frozen.');
    } catch (error) {
      const fields = Object.entries(error.fields || {}).map(([k, v]) => `${k} ${v}`).join('; ');
      flash(`Freeze failed: ${error.message}${fields ? ` (${fields})` : ''}`, 'error');
    }
    this.drawn = false;
    this.load();
  },
});
