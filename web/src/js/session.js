// Who is signed in: the AWS credentials (access key, secret and, for temporary credentials, the
// session token) kept in this tab's sessionStorage — never localStorage, a cookie or the URL — so
// they live as long as the tab and are gone on sign-out.
const KEY = 'fabu.credentials';
const NOTICE = 'fabu.notice';

// The stored credentials, or null when nobody is signed in.
export function credentials() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY));
    return value && value.accessKeyId && value.secretAccessKey ? value : null;
  } catch (e) {
    return null;
  }
}

// Keep the credentials for this tab.
export function signIn({ accessKeyId, secretAccessKey, sessionToken }) {
  const value = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() };
  if (sessionToken && sessionToken.trim()) value.sessionToken = sessionToken.trim();
  sessionStorage.setItem(KEY, JSON.stringify(value));
  localStorage.removeItem(KEY);   // never there; removed in case an old build put it there
  window.dispatchEvent(new CustomEvent('fabu:session'));
}

// Forget the credentials; `notice` is shown once on the sign-in page (e.g. why you were signed out).
export function signOut(notice) {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
  if (notice) sessionStorage.setItem(NOTICE, notice);
  window.dispatchEvent(new CustomEvent('fabu:session'));
}

// The notice left by signOut, once.
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return notice;
}
