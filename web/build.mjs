// Build the web console without a bundler: copy src/ and the vendor files from node_modules
// into dist/ (or the directory given as `--out DIR`), write dist/config.js from the environment
// (FABU_API_URL, FABU_REGION) and limit the Content-Security-Policy's connect-src in index.html to
// that API's origin. `infra/publish_ui.py` uploads dist/ and rewrites both for the running API.
// docs/fields.md (the field reference the project form links to) becomes docs/fields.html.
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const outAt = process.argv.indexOf('--out');
const dist = outAt > 0 ? resolve(process.argv[outAt + 1]) : join(here, 'dist');
const FIELDS = join(here, '..', 'docs', 'fields.md');

// Backbone 1.6 publishes no ES-module build (backbone.js is a UMD script that finds jQuery and
// underscore on `window`), so jQuery, underscore, Backbone and uPlot load as classic scripts from
// index.html before the app's modules (docs/console.md, "How it is built"); aws4fetch is an ES
// module imported by js/sync.js.
const VENDOR = {
  'jquery.min.js': 'jquery/dist/jquery.min.js',
  'underscore-umd-min.js': 'underscore/underscore-umd-min.js',
  'backbone-min.js': 'backbone/backbone-min.js',
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
  'aws4fetch.mjs': 'aws4fetch/dist/aws4fetch.esm.mjs',
};

/** The console's runtime settings, as a classic script that index.html loads first. */
export function configScript(apiUrl, region, refreshSeconds) {
  const config = { apiUrl: apiUrl.replace(/\/+$/, ''), region, refreshSeconds };
  return `window.FABU_CONFIG = ${JSON.stringify(config)};\n`;
}

/** index.html with its CSP's connect-src limited to the API's origin. */
export function withConnectSrc(indexHtml, apiUrl) {
  const origin = new URL(apiUrl).origin;
  return indexHtml.replace(/connect-src [^;"]*/, `connect-src ${origin}`);
}

const escapeHtml = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** docs/fields.md as a page of the console: the text as written (UTF-8, monospaced), under the
 * same kind of CSP as the console (no script at all). An HTML page rather than the .md itself,
 * so that every bucket or CDN serves it with its charset and the browser shows it. */
export function referencePage(markdown) {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'">
  <title>Project fields · fabu</title>
  <link rel="stylesheet" href="../css/console.css">
</head>
<body>
  <main class="reference">
    <p class="muted">The field reference of fabu's project body (<code>docs/fields.md</code> in the
      repository, generated from the schema the API validates against).</p>
    <pre class="reference-text">${escapeHtml(markdown)}</pre>
  </main>
</body>
</html>
`;
}

function main() {
  rmSync(dist, { recursive: true, force: true });
  cpSync(join(here, 'src'), dist, { recursive: true });
  mkdirSync(join(dist, 'vendor'), { recursive: true });
  for (const [name, source] of Object.entries(VENDOR)) {
    cpSync(join(here, 'node_modules', source), join(dist, 'vendor', name));
  }
  const env = process.env;
  const apiUrl = env.FABU_API_URL || `http://127.0.0.1:${env.FABU_API_PORT || 8000}`;
  writeFileSync(join(dist, 'config.js'), configScript(apiUrl,
    env.FABU_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    Number(env.FABU_UI_REFRESH_SECONDS || 3)));
  const index = join(dist, 'index.html');
  writeFileSync(index, withConnectSrc(readFileSync(index, 'utf8'), apiUrl));
  if (existsSync(FIELDS)) {
    mkdirSync(join(dist, 'docs'), { recursive: true });
    writeFileSync(join(dist, 'docs', 'fields.html'), referencePage(readFileSync(FIELDS, 'utf8')));
  }
  console.log(`fabu console built into ${dist}`);
}

// Run only as a script (tests import the functions above).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
