// Passkeys (WebAuthn) for Attest's pages. Loaded as a static file under the CSP
// (script-src 'self'); there is no inline script anywhere.
//
// A form marked `data-passkey="create"` or `data-passkey="get"` stays hidden without
// WebAuthn. When submitted, it asks the server to begin a ceremony (POST data-begin, answered
// with {ceremony, options}), runs navigator.credentials.create/get with those options, writes
// the ceremony id and the credential (PublicKeyCredential.toJSON()) into the form's hidden
// `ceremony` and `credential` fields, and submits the form normally: the server's answer is
// an ordinary page, so redirects, messages and step-up work as for every other form.
'use strict';
(() => {
  const forms = document.querySelectorAll('form[data-passkey]');
  if (forms.length === 0) return;
  const PKC = window.PublicKeyCredential;
  const supported = Boolean(PKC && navigator.credentials);

  const b64u = {
    enc: (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
      .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    dec: (s) => Uint8Array.from(
      atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)),
      (c) => c.charCodeAt(0)).buffer,
  };
  const creationOptions = (pk) => (PKC.parseCreationOptionsFromJSON
    ? PKC.parseCreationOptionsFromJSON(pk)
    : {
      ...pk,
      challenge: b64u.dec(pk.challenge),
      user: { ...pk.user, id: b64u.dec(pk.user.id) },
      excludeCredentials: (pk.excludeCredentials || []).map((c) => ({ ...c, id: b64u.dec(c.id) })),
    });
  const requestOptions = (pk) => (PKC.parseRequestOptionsFromJSON
    ? PKC.parseRequestOptionsFromJSON(pk)
    : {
      ...pk,
      challenge: b64u.dec(pk.challenge),
      allowCredentials: (pk.allowCredentials || []).map((c) => ({ ...c, id: b64u.dec(c.id) })),
    });
  const credentialJSON = (c) => {
    if (typeof c.toJSON === 'function') return c.toJSON();
    const r = c.response;
    const out = {
      id: c.id,
      rawId: b64u.enc(c.rawId),
      type: c.type,
      clientExtensionResults: c.getClientExtensionResults(),
      response: { clientDataJSON: b64u.enc(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      out.response.attestationObject = b64u.enc(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = b64u.enc(r.authenticatorData);
      out.response.signature = b64u.enc(r.signature);
      if (r.userHandle) out.response.userHandle = b64u.enc(r.userHandle);
    }
    return out;
  };

  const say = (form, message) => {
    const el = form.querySelector('[data-passkey-error]');
    if (el) {
      el.textContent = message;
      el.hidden = false;
    }
  };

  async function begin(form) {
    const csrf = form.elements.csrf_token ? form.elements.csrf_token.value : '';
    const res = await fetch(form.dataset.begin, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-CSRF-Token': csrf },
    });
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (res.ok && body) return body;
    const code = body && body.error;
    if (code === 'reauth_required') {
      window.location.assign(`/reauth?next=${encodeURIComponent(window.location.pathname)}`);
      return null;
    }
    const err = new Error((body && body.message) || `The server answered ${res.status}.`);
    err.name = 'ServerError';
    throw err;
  }

  async function run(form, button) {
    button.disabled = true;
    try {
      const started = await begin(form);
      if (!started) return;
      const publicKey = started.options.publicKey;
      const credential = form.dataset.passkey === 'create'
        ? await navigator.credentials.create({ publicKey: creationOptions(publicKey) })
        : await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
      form.elements.ceremony.value = started.ceremony;
      form.elements.credential.value = JSON.stringify(credentialJSON(credential));
      HTMLFormElement.prototype.submit.call(form);
    } catch (e) {
      button.disabled = false;
      if (e && e.name === 'ServerError') say(form, e.message);
      else if (e && e.name === 'InvalidStateError') say(form, 'This authenticator is registered already.');
      else if (e && e.name === 'NotAllowedError') say(form, 'The passkey request was cancelled or timed out. Try again.');
      else say(form, 'The passkey did not work. Try again, or use another way to confirm.');
    }
  }

  forms.forEach((form) => {
    if (!supported) {
      const note = document.querySelector(`[data-passkey-unsupported="${form.id}"]`);
      if (note) note.hidden = false;
      return;
    }
    form.hidden = false;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const button = event.submitter || form.querySelector('button');
      run(form, button);
    });
  });
})();
