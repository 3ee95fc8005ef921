// Build the web console without a bundler: copy src/ and the vendor files from node_modules
// into dist/, and write dist/config.js from the environment (FABU_API_URL, FABU_REGION).
// `infra/publish_ui.py` uploads dist/ and replaces config.js with the running API's URL.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

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

function main() {
  rmSync(dist, { recursive: true, force: true });
  cpSync(join(here, 'src'), dist, { recursive: true });
  mkdirSync(join(dist, 'vendor'), { recursive: true });
  for (const [name, source] of Object.entries(VENDOR)) {
    cpSync(join(here, 'node_modules', source), join(dist, 'vendor', name));
  }
  const env = process.env;
  writeFileSync(join(dist, 'config.js'), configScript(
    env.FABU_API_URL || `http://127.0.0.1:${env.FABU_API_PORT || 8000}`,
    env.FABU_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
    Number(env.FABU_UI_REFRESH_SECONDS || 3)));
  console.log(`fabu console built into ${dist}`);
}

main();
