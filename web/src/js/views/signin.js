// The sign-in form: AWS credentials — temporary ones preferred (access key, secret and session
// token from STS or a Cognito identity pool) — checked against the API before the console uses
// them. They are kept in this tab's sessionStorage only (session.js).
import { config } from '../config.js';
import { html } from '../html.js';
import { credentials, signIn, signOut, takeNotice } from '../session.js';
import { apiRequest } from '../sync.js';
import { Base } from './ui.js';

function form(apiUrl, region, secure, notice) {
  return html`
  <section class="card signin">
    <h1>Sign in</h1>
    ${secure ? '' : html`<div class="alert error insecure" role="alert"><strong>This page is not
      served over HTTPS.</strong> The browser does not sign requests on an insecure page, and
      credentials typed here could be read on the way. Open the console's HTTPS address (the
      <code>UIURL</code> output of the stack) instead.</div>`}
    ${notice ? html`<div class="alert info notice" role="status">${notice}</div>` : ''}
    <p class="muted">Requests to <code>${apiUrl}</code> are signed in this browser with AWS SigV4
      (region <code>${region}</code>). Your credentials stay in this tab's session storage: they
      are gone when you sign out or close the tab, and are never written to disk by the console.</p>
    <div class="alert error" id="signin-error" role="alert" hidden></div>
    <form novalidate>
      <div class="field">
        <label for="access-key-id">Access key ID</label>
        <input id="access-key-id" name="accessKeyId" autocomplete="off" required
          spellcheck="false" autocapitalize="off" aria-describedby="signin-hint">
      </div>
      <div class="field">
        <label for="secret-access-key">Secret access key</label>
        <input id="secret-access-key" name="secretAccessKey" type="password" required
          autocomplete="off">
      </div>
      <div class="field">
        <label for="session-token">Session token</label>
        <input id="session-token" name="sessionToken" type="password" autocomplete="off"
          aria-describedby="session-token-hint">
        <p class="hint" id="session-token-hint">Use <strong>temporary credentials</strong>: the
          access key, secret and session token of <code>aws sts get-session-token</code>,
          <code>aws sts assume-role</code> or a Cognito identity pool (they expire by themselves).
          Leave it empty only for a long-lived key, e.g. the local admin key of
          <code>.fabu/credentials</code>.</p>
      </div>
      <p class="hint" id="signin-hint">The console asks the API once with these credentials before
        using them.</p>
      <button type="submit" ${secure ? '' : 'disabled'}>Sign in</button>
    </form>
  </section>`;
}

export const SignInView = Base.extend({
  events: { 'submit form': 'submit' },

  // Draw the form.
  render() {
    this.$el.html(String(form(config.apiUrl, config.region, window.isSecureContext, takeNotice())));
    return this;
  },

  // Keep the credentials, prove they work with one signed request, then go where the user was
  // going.
  async submit(event) {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(event.currentTarget));
    const error = this.$('#signin-error');
    if (!values.accessKeyId.trim() || !values.secretAccessKey.trim()) {
      error.text('Enter the access key ID and the secret access key.').prop('hidden', false);
      return;
    }
    signIn(values);
    try {
      await apiRequest('GET', '/api/v1/project?limit=1');
    } catch (e) {
      signOut();
      const why = e.status === 403 ? `the API refused these credentials: ${e.message}` : e.message;
      error.text(`Could not sign in — ${why}`).prop('hidden', false);
      return;
    }
    this.trigger('signed-in', credentials());
  },
});
