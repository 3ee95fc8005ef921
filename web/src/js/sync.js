// Backbone.sync replaced by SigV4-signed fetches (aws4fetch): every API call is signed for
// `execute-api` in the stage's region, exactly like the CLI and the host agent sign theirs.
// Updates and deletes carry the model's ETag in If-Match, so a stale form gets a 409.
import { AwsClient } from '../vendor/aws4fetch.mjs';
import { config } from './config.js';
import { credentials, signOut } from './session.js';

const VERBS = { create: 'POST', update: 'PUT', patch: 'PUT', delete: 'DELETE', read: 'GET' };

// An API answer other than 2xx: status, the server's message and its per-field errors.
export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && body.error) || (status ? `HTTP ${status}` : 'the API did not answer');
    super(message);
    this.status = status;
    this.body = body || {};
    this.fields = (body && body.fields) || {};
  }
}

function client() {
  const creds = credentials();
  if (!creds) throw new ApiError(401, { error: 'not signed in' });
  // retries: 0 — a control (promote, rollback) must never be sent twice behind the user's back.
  return new AwsClient({ ...creds, service: 'execute-api', region: config.region, retries: 0 });
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    return { error: text.slice(0, 500) };
  }
}

// One signed request to the API: resolves to the parsed JSON body, rejects with ApiError.
export async function apiRequest(method, path, { body, headers } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...(headers || {}) } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await client().fetch(config.apiUrl + path, init);
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw new ApiError(0, { error: `cannot reach the API at ${config.apiUrl}: ${e.message}` });
  }
  const data = await parse(response);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 403 && /expired/i.test(error.message)) {
      // Temporary credentials ran out: sign out and say why on the sign-in page.
      signOut(`Your credentials expired (${error.message}): sign in with new ones.`);
      window.dispatchEvent(new CustomEvent('fabu:expired'));
    }
    throw error;
  }
  return data;
}

// The API path of a model or collection URL (they are API-relative: /api/v1/...).
function pathOf(url) {
  return url.startsWith(config.apiUrl) ? url.slice(config.apiUrl.length) : url;
}

// Backbone.sync's contract: call options.success/options.error, trigger 'request', return a
// promise. Fields a model marks as read-only (server-computed) are left out of writes.
export function sync(method, model, options = {}) {
  const verb = VERBS[method];
  const url = options.url || _.result(model, 'url');
  const headers = {};
  const etag = model.get && model.get('etag');
  if ((verb === 'PUT' || verb === 'DELETE') && etag && options.ifMatch !== false) {
    headers['If-Match'] = etag;
  }
  let body;
  if (verb === 'POST' || verb === 'PUT') {
    body = options.attrs || (model.toPayload ? model.toPayload() : model.toJSON(options));
  }
  const promise = apiRequest(verb, pathOf(url), { body, headers }).then(
    (data) => { if (options.success) options.success(data); return data; },
    (error) => { if (options.error) options.error(error); throw error; });
  model.trigger('request', model, promise, options);
  return promise;
}

Backbone.sync = sync;
