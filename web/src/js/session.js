// Who is signed in: the AWS key pair (and optional session token) kept in sessionStorage,
// so it lives as long as the tab and never reaches a cookie or the page's URL.
const KEY = 'fabu.credentials';

// The stored credentials, or null when nobody is signed in.
export function credentials() {
  try {
    const value = JSON.parse(sessionStorage.getItem(KEY));
    return value && value.accessKeyId && value.secretAccessKey ? value : null;
  } catch (e) {
    return null;
  }
}

// Keep a key pair for this tab.
export function signIn({ accessKeyId, secretAccessKey, sessionToken }) {
  const value = { accessKeyId: accessKeyId.trim(), secretAccessKey: secretAccessKey.trim() };
  if (sessionToken && sessionToken.trim()) value.sessionToken = sessionToken.trim();
  sessionStorage.setItem(KEY, JSON.stringify(value));
  window.dispatchEvent(new CustomEvent('fabu:session'));
}

// Forget the key pair.
export function signOut() {
  sessionStorage.removeItem(KEY);
  window.dispatchEvent(new CustomEvent('fabu:session'));
}
