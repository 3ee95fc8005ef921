// The console's runtime settings, written into config.js by the build or by publish_ui.py.
const raw = window.FABU_CONFIG || {};

export const config = Object.freeze({
  apiUrl: (raw.apiUrl || 'http://127.0.0.1:8000').replace(/\/+$/, ''),
  region: raw.region || 'us-east-1',
  refreshMs: Math.max(1, Number(raw.refreshSeconds) || 3) * 1000,
});
