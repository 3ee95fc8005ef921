// HTML from tagged template literals, escaped by default. The console's Content-Security-Policy
// forbids eval, so underscore's `_.template` (which compiles with `new Function`) is not used:
// every view builds its markup with `html` instead.
//
//   html`<p title="${text}">${name}</p>`   → every value escaped
//   html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`   → nested html is kept as is
//   raw(trustedMarkup)                       → a string the caller vouches for
const esc = (value) => String(value)
  .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  .replace(/"/g, '&quot;').replace(/'/g, '&#39;');

// Markup that is already safe (built by `html`, or a constant of the console's own).
export class Safe {
  constructor(text) { this.text = text; }

  toString() { return this.text; }
}

export function raw(text) {
  return new Safe(String(text ?? ''));
}

function render(value) {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Safe) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return esc(value);
}

export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((value, i) => { out += render(value) + strings[i + 1]; });
  return new Safe(out);
}

// A value escaped for text or an attribute (for the rare string built outside `html`).
export const escape = esc;
