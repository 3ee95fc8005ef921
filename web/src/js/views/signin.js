// The sign-in form: an AWS key pair (and session token, for Cognito or STS credentials),
// checked against the API before the console uses it.
import { config } from '../config.js';
import { credentials, signIn, signOut } from '../session.js';
import { apiRequest } from '../sync.js';
import { Base } from './ui.js';

const TEMPLATE = _.template(`
  <section class="card signin">
    <h1>Sign in</h1>
    <p class="muted">Requests to <code><%- apiUrl %></code> are signed in this browser with
      AWS SigV4 (region <code><%- region %></code>). The key stays in this tab's session storage.</p>
    <div class="alert error" id="signin-error" role="alert" hidden></div>
    <form novalidate>
      <div class="field">
        <label for="access-key-id">Access key ID</label>
        <input id="access-key-id" name="accessKeyId" autocomplete="username" required
          spellcheck="false" autocapitalize="off">
      </div>
      <div class="field">
        <label for="secret-access-key">Secret access key</label>
        <input id="secret-access-key" name="secretAccessKey" type="password" required
          autocomplete="current-password">
      </div>
      <div class="field">
        <label for="session-token">Session token <span class="muted">(optional)</span></label>
        <input id="session-token" name="sessionToken" type="password" autocomplete="off"
          aria-describedby="session-token-hint">
        <p class="hint" id="session-token-hint">Only for temporary credentials (Cognito
          identity pool, STS). Locally, use the admin key of <code>.fabu/credentials</code>.</p>
      </div>
      <button type="submit">Sign in</button>
    </form>
  </section>`);

export const SignInView = Base.extend({
  events: { 'submit form': 'submit' },

  // Draw the form.
  render() {
    this.$el.html(TEMPLATE({ apiUrl: config.apiUrl, region: config.region }));
    return this;
  },

  // Keep the key, prove it works with one signed request, then go where the user was going.
  async submit(event) {
    event.preventDefault();
    const form = Object.fromEntries(new FormData(event.currentTarget));
    const error = this.$('#signin-error');
    if (!form.accessKeyId.trim() || !form.secretAccessKey.trim()) {
      error.text('Enter the access key ID and the secret access key.').prop('hidden', false);
      return;
    }
    signIn(form);
    try {
      await apiRequest('GET', '/api/v1/project?limit=1');
    } catch (e) {
      signOut();
      const why = e.status === 403 ? `the API refused this key: ${e.message}` : e.message;
      error.text(`Could not sign in — ${why}`).prop('hidden', false);
      return;
    }
    this.trigger('signed-in', credentials());
  },
});
