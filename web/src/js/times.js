// Times as an operator reads them: "3 min ago", "in 2 h", a bake countdown "4:05 left", and the
// one clock that keeps them current. Views draw <time> tags once; a single timer rewrites their
// text every second from their `datetime`, so nothing is refetched or redrawn to age a time.
import { html } from './html.js';

const MINUTE = 60;
const HOUR = 3600;
const DAY = 86400;

// A duration in words: "45 s", "3 min", "2 h 5 min", "3 d 4 h".
export function span(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < MINUTE) return `${s} s`;
  if (s < HOUR) return `${Math.floor(s / MINUTE)} min`;
  if (s < DAY) {
    const minutes = Math.floor((s % HOUR) / MINUTE);
    return `${Math.floor(s / HOUR)} h${minutes ? ` ${minutes} min` : ''}`;
  }
  const hours = Math.floor((s % DAY) / HOUR);
  return `${Math.floor(s / DAY)} d${hours ? ` ${hours} h` : ''}`;
}

// "12 s ago" / "in 3 min" for an ISO time; the text itself when it is not a time.
export function relative(iso, now = Date.now()) {
  if (!iso) return '';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return String(iso);
  const seconds = (now - at) / 1000;
  if (Math.abs(seconds) < 1) return 'just now';
  return seconds >= 0 ? `${span(seconds)} ago` : `in ${span(-seconds)}`;
}

// "4:05" (or "1:02:05") until an ISO time; "0:00" once it has passed.
export function countdown(iso, now = Date.now()) {
  const left = Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const h = Math.floor(left / HOUR);
  const m = Math.floor((left % HOUR) / MINUTE);
  const s = left % MINUTE;
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

// "2026-11-30 14:05:09 UTC": the absolute time a tooltip shows.
export function absolute(iso) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return String(iso || '');
  return `${new Date(at).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

// A <time> whose relative text the clock keeps current; the absolute time in its tooltip.
export function timeTag(iso) {
  if (!iso) return html`<span class="muted">—</span>`;
  return html`<time class="rel" datetime="${iso}" title="${absolute(iso)}">${relative(iso)}</time>`;
}

// A countdown to `iso` ("4:05 left") that the clock ticks down; `done` replaces it at zero.
export function countdownTag(iso, done) {
  return html`<time class="countdown" datetime="${iso}" title="${absolute(iso)}"
    data-done="${done}">${Date.parse(iso) > Date.now() ? `${countdown(iso)} left` : done}</time>`;
}

// Rewrite every relative time and countdown under `root` for the current time.
export function refreshTimes(root = document, now = Date.now()) {
  for (const el of root.querySelectorAll('time.rel')) {
    const text = relative(el.getAttribute('datetime'), now);
    if (el.textContent !== text) el.textContent = text;
  }
  for (const el of root.querySelectorAll('time.countdown')) {
    const iso = el.getAttribute('datetime');
    const text = Date.parse(iso) > now ? `${countdown(iso, now)} left` : el.dataset.done;
    if (el.textContent !== text) el.textContent = text;
  }
}

let clock = null;

// Start the console's one clock (idempotent): every second, relative times and countdowns age.
export function startClock() {
  if (clock === null) clock = setInterval(() => refreshTimes(document), 1000);
  return clock;
}
