// Small shared pieces of the views: badges, actors, progress bars, flash messages, confirmation,
// polling. Markup is built with `html` (escaped; no inline styles or scripts: the console's
// Content-Security-Policy forbids them).
import { config } from '../config.js';
import { html } from '../html.js';
import { actorName, labelOf } from '../labels.js';
import { toneOf } from '../status.js';

export { countdownTag, timeTag } from '../times.js';

// A state as a pill: its human label (labels.js), coloured by its tone (status.js); the API's
// own word stays in data-state and the tooltip.
export function badge(kind, value) {
  const word = value ?? '';
  return html`<span class="badge ${toneOf(word)}" data-state="${word}"
    title="${word}">${labelOf(kind, word)}</span>`;
}

// A phase report's status (ok and skipped went well; failed and interrupted did not).
export function reportBadge(status) {
  return badge('ReportStatus', status);
}

// A caller by name (the last segment of its ARN), the full ARN in its tooltip.
export function actorTag(actor) {
  if (!actor) return html`<span class="muted">—</span>`;
  return html`<span class="actor" title="${actor}">${actorName(actor)}</span>`;
}

// An accessible progress bar: done (green), failed (red), busy (blue) out of total. Drawn in SVG
// (widths are attributes, not inline styles).
export function progressBar({ done = 0, failed = 0, busy = 0, total = 0 }, label) {
  const pct = (n) => (total ? Math.min(100, (100 * n) / total) : 0);
  const now = total ? Math.round(pct(done)) : 0;
  const text = `${done} of ${total} done${failed ? `, ${failed} failed` : ''}` +
    `${busy ? `, ${busy} deploying` : ''}`;
  const [d, f, b] = [pct(done), pct(failed), pct(busy)].map((n) => Math.round(n * 100) / 100);
  return html`<div class="progress" role="progressbar" aria-label="${label}" aria-valuemin="0"
      aria-valuemax="100" aria-valuenow="${now}" aria-valuetext="${text}" title="${text}">
      <svg viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true" focusable="false">
        <rect class="done" x="0" y="0" height="10" width="${d}"></rect>
        <rect class="failed" x="${d}" y="0" height="10" width="${f}"></rect>
        <rect class="busy" x="${Math.round((d + f) * 100) / 100}" y="0" height="10" width="${b}"></rect>
      </svg></div>`;
}

export function progressText({ done = 0, failed = 0, busy = 0, total = 0 }) {
  return `${done}/${total}` + (failed ? ` · ${failed} failed` : '') + (busy ? ` · ${busy} busy` : '');
}

// A message at the bottom right, gone after a few seconds.
export function flash(message, kind = 'info') {
  const box = $('<div></div>').addClass(`alert ${kind}`).text(message);
  $('#flash').empty().append(box);
  setTimeout(() => box.fadeOut(400, () => box.remove()), 6000);
}

// Ask before a control; resolves true when the user confirms (the native <dialog> keeps focus
// inside and answers Escape).
export function confirmAction(title, text, okLabel) {
  const dialog = document.getElementById('confirm');
  dialog.querySelector('#confirm-title').textContent = title;
  dialog.querySelector('#confirm-text').textContent = text;
  dialog.querySelector('#confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    dialog.querySelector('#confirm-ok').focus();
  });
}

// What to tell the user about an API error of a page's data: 403/404 say what they mean.
export function describeLoadError(error, what) {
  if (error.status === 404) return `${what}: the API answered 404 (${error.message}) — this route or item does not exist (yet) on ${config.apiUrl}.`;
  if (error.status === 403) return `${what}: the API answered 403 — your key may not read this. ${error.message}`;
  if (error.status === 0) return error.message;
  return `${what}: ${error.message} (HTTP ${error.status})`;
}

// Run `tick` now and every refresh interval until the view is removed; errors are reported
// to `onError`, never thrown (a view keeps polling through a blip).
export function poll(view, tick, onError) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      await tick();
    } catch (error) {
      if (onError) onError(error);
    }
    if (!stopped) timer = setTimeout(run, config.refreshMs);
  };
  run();
  const stop = () => { stopped = true; clearTimeout(timer); };
  view.once('removed', stop);
  return stop;
}

// Backbone.View.remove that also stops the view's pollers and subviews.
export const Base = Backbone.View.extend({
  remove() {
    this.trigger('removed');
    _.invoke(this.subviews || [], 'remove');
    return Backbone.View.prototype.remove.call(this);
  },
});
